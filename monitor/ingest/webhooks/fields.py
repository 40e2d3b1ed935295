"""Typed reading of untrusted webhook JSON: fields, timestamps, campaign labels, key digests.

Every reader raises :class:`MalformedPayload` with the field's *name*, never its value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from email.utils import parseaddr

from monitor.ingest.attribution import sanitise_campaign
from monitor.ingest.webhooks.errors import MalformedPayload
from monitor.model.events import UNATTRIBUTED, Source
from monitor.model.jsontext import JsonRefused, loads_strict
from monitor.model.privacy import PrivacyError, normalise_address

__all__ = [
    "JsonObject",
    "campaign_label",
    "first_campaign",
    "key_digest",
    "load_json",
    "optional_str",
    "parse_iso_time",
    "parse_unix_time",
    "recipient_address",
    "require_mapping",
    "require_str",
    "resolve_now",
]

JsonObject = Mapping[str, object]


def resolve_now(now: dt.datetime | None) -> dt.datetime:
    """``now`` (timezone-aware) or the current UTC time."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def load_json(body: bytes | str, *, provider: Source) -> object:
    """Parse a JSON body strictly (``monitor.model.jsontext``: UTF-8, no duplicate keys, at
    most 64 levels deep, numbers in range); any refusal is ``MalformedPayload``."""
    try:
        return loads_strict(body)
    except JsonRefused as exc:
        raise MalformedPayload(f"body refused: {exc.reason}", provider=provider) from None


def require_mapping(value: object, name: str, *, provider: Source) -> JsonObject:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise MalformedPayload(f"{name} is not a JSON object", provider=provider)
    return value


def require_str(obj: JsonObject, name: str, *, provider: Source) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"{name} is missing or not a string", provider=provider)
    return value


def optional_str(obj: JsonObject, name: str) -> str | None:
    value = obj.get(name)
    return value if isinstance(value, str) and value else None


def recipient_address(value: object, name: str, *, provider: Source) -> str:
    """A recipient address (``Name <addr>`` reduced to ``addr``); refused unless it has an ``@``."""
    if not isinstance(value, str):
        raise MalformedPayload(f"{name} is missing or not a string", provider=provider)
    text = value.strip()
    if "<" in text:
        text = parseaddr(text)[1]
    if "@" not in text or any(c.isspace() for c in text):
        raise MalformedPayload(f"{name} is not an address", provider=provider)
    try:
        normalise_address(text)  # what the store will pseudonymise: refused here, by name
    except PrivacyError:
        raise MalformedPayload(f"{name} is not an address", provider=provider) from None
    return text


def parse_iso_time(value: object, name: str, *, provider: Source) -> dt.datetime:
    """An ISO 8601 timestamp (``Z`` or offset; none means UTC), as an aware datetime."""
    if not isinstance(value, str):
        raise MalformedPayload(f"{name} is missing or not a string", provider=provider)
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
        # In UTC now: 0001-01-01T00:00+14:00 has no UTC moment (OverflowError).
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)).astimezone(
            dt.UTC
        )
    except ValueError:
        raise MalformedPayload(f"{name} is not an ISO 8601 time", provider=provider) from None
    except OverflowError:
        raise MalformedPayload(f"{name} is out of range", provider=provider) from None


def parse_unix_time(value: object, name: str, *, provider: Source) -> dt.datetime:
    """Seconds since the epoch (int, float or a decimal string), as an aware UTC datetime."""
    seconds: float
    if isinstance(value, bool):
        raise MalformedPayload(f"{name} is not a Unix time", provider=provider)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            raise MalformedPayload(f"{name} is not a Unix time", provider=provider) from None
    else:
        raise MalformedPayload(f"{name} is missing or not a Unix time", provider=provider)
    if not math.isfinite(seconds) or not 0 <= seconds < 1e11:
        raise MalformedPayload(f"{name} is out of range", provider=provider)
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def campaign_label(value: object) -> str | None:
    """A usable campaign id, or None (so the next attribution source is tried).

    Normalised exactly as ARF attribution does (``sanitise_campaign``), so one campaign
    keeps one id across channels; a value containing ``@`` is refused there.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return sanitise_campaign(str(value))


def first_campaign(candidates: Iterable[object]) -> str:
    """The first usable candidate (a list-valued candidate contributes its first item)."""
    for candidate in candidates:
        if isinstance(candidate, Sequence) and not isinstance(candidate, str):
            candidate = candidate[0] if candidate else None
        label = campaign_label(candidate)
        if label is not None:
            return label
    return UNATTRIBUTED


def key_digest(*parts: str) -> str:
    """A short digest to build idempotency keys from values that must not be stored in clear.

    Used where a provider's id is shared by several recipients (a message id): the digest of
    that id plus the address separates them without putting the address into the key.
    """
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]
