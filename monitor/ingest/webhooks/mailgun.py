"""Mailgun webhooks: HMAC-SHA256 of timestamp+token, a time window, a token replay cache.

The HMAC covers only ``timestamp + token``, not the event, so a token is accepted once.
Mapped: complained -> complaint, unsubscribed -> unsubscribe, delivered -> delivered,
failed (severity permanent / temporary) -> bounce. Ignored: accepted, opened, clicked,
stored and any other event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.ingest.bounces import with_reply
from monitor.ingest.providers import provider_of_address
from monitor.ingest.webhooks.errors import (
    AuthenticityRefused,
    Reason,
    WebhookConfigError,
)
from monitor.ingest.webhooks.fields import (
    first_campaign,
    load_json,
    optional_str,
    parse_unix_time,
    recipient_address,
    require_mapping,
    resolve_now,
)
from monitor.ingest.webhooks.replay import ReplayCache
from monitor.model.events import BounceKind, Event, EventType, Source

__all__ = [
    "MailgunVerifier",
    "handle_mailgun",
    "parse_mailgun",
    "verify_mailgun",
]

_MG = Source.MAILGUN
_TYPES = {
    "complained": EventType.COMPLAINT,
    "unsubscribed": EventType.UNSUBSCRIBE,
    "delivered": EventType.DELIVERED,
    "failed": EventType.BOUNCE,
}
_SEVERITIES = {"permanent": BounceKind.PERMANENT, "temporary": BounceKind.TRANSIENT}


@dataclass(frozen=True, slots=True)
class MailgunVerifier:
    """``[webhooks.mailgun]``: the HTTP webhook signing key and the time window."""

    signing_key: str = field(repr=False)
    campaign_field: str = "campaign"  # a user-variable
    max_age: dt.timedelta = dt.timedelta(minutes=10)
    max_skew: dt.timedelta = dt.timedelta(minutes=2)

    def __post_init__(self) -> None:
        if not self.signing_key:
            raise WebhookConfigError("signing_key is empty", provider=_MG)


def verify_mailgun(
    signature: Mapping[str, object],
    *,
    signing_key: str,
    replay_cache: ReplayCache,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = dt.timedelta(minutes=10),
    max_skew: dt.timedelta = dt.timedelta(minutes=2),
) -> None:
    """Check the ``signature`` object: window, then HMAC, then that the token is new.

    Raises:
        AuthenticityRefused: unsigned, stale_timestamp, bad_signature, replayed.
    """
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not (isinstance(timestamp, str) and isinstance(token, str) and isinstance(given, str)):
        raise AuthenticityRefused(
            Reason.UNSIGNED, "signature needs timestamp, token and signature", provider=_MG
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or not token:
        raise AuthenticityRefused(
            Reason.BAD_SIGNATURE, "malformed timestamp or token", provider=_MG
        )
    current = resolve_now(now)
    signed_at = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    age = current - signed_at
    if age > max_age or -age > max_skew:
        raise AuthenticityRefused(
            Reason.STALE_TIMESTAMP,
            "the signed timestamp is outside the window",
            provider=_MG,
        )
    expected = hmac.new(
        signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("utf-8")):
        raise AuthenticityRefused(
            Reason.BAD_SIGNATURE, "the Mailgun signature does not verify", provider=_MG
        )
    # Kept until the timestamp leaves the window, after which the window refuses it anyway.
    until = (signed_at + max_age).timestamp()
    if not replay_cache.remember(token, until=until, now=current.timestamp()):
        raise AuthenticityRefused(Reason.REPLAYED, "this token was already used", provider=_MG)


def parse_mailgun(
    event_data: Mapping[str, object], *, campaign_field: str = "campaign"
) -> tuple[Event, ...]:
    """The event of a (verified) Mailgun ``event-data`` object: one, or none if ignored.

    Raises:
        MalformedPayload: a mapped event without a valid recipient or timestamp.
    """
    data = require_mapping(event_data, "event-data", provider=_MG)
    kind = _TYPES.get(optional_str(data, "event") or "")
    if kind is None:
        return ()
    recipient = recipient_address(data.get("recipient"), "recipient", provider=_MG)
    bounce_kind = None
    if kind is EventType.BOUNCE:
        bounce_kind = _SEVERITIES.get(optional_str(data, "severity") or "", BounceKind.UNDETERMINED)
    variables = data.get("user-variables")
    custom = variables.get(campaign_field) if isinstance(variables, Mapping) else None
    event_id = optional_str(data, "id")
    event = Event(
        type=kind,
        campaign=first_campaign([custom, data.get("tags")]),
        occurred_at=parse_unix_time(data.get("timestamp"), "timestamp", provider=_MG),
        source=_MG,
        idempotency_key=None if event_id is None else f"mailgun:{kind.value}:{event_id}",
        recipient=recipient,
        provider=provider_of_address(recipient),
        bounce_kind=bounce_kind,
    )
    if kind is EventType.BOUNCE:
        status = data.get("delivery-status")
        if isinstance(status, Mapping):
            code = status.get("code")
            message = status.get("message") or status.get("description")
            reply = f"{code} {message}" if isinstance(code, int) and message else message
            event = with_reply(event, reply, status=status.get("enhanced-code"))
        else:
            event = with_reply(event, None)
    return (event,)


def handle_mailgun(
    body: bytes,
    *,
    config: MailgunVerifier,
    replay_cache: ReplayCache,
    now: dt.datetime | None = None,
) -> tuple[Event, ...]:
    """Verify a Mailgun JSON POST (``{"signature": {...}, "event-data": {...}}``).

    Raises:
        MalformedPayload, AuthenticityRefused: see :func:`verify_mailgun`, :func:`parse_mailgun`.
    """
    payload = require_mapping(load_json(body, provider=_MG), "body", provider=_MG)
    signature = payload.get("signature")
    if not isinstance(signature, Mapping):
        raise AuthenticityRefused(Reason.UNSIGNED, "no signature object", provider=_MG)
    verify_mailgun(
        require_mapping(signature, "signature", provider=_MG),
        signing_key=config.signing_key,
        replay_cache=replay_cache,
        now=now,
        max_age=config.max_age,
        max_skew=config.max_skew,
    )
    event_data = require_mapping(payload.get("event-data"), "event-data", provider=_MG)
    return parse_mailgun(event_data, campaign_field=config.campaign_field)
