"""SendGrid Signed Event Webhook: ECDSA P-256 verification, freshness, events.

SendGrid signs ``timestamp header + raw body`` (the exact bytes: re-serialised JSON no
longer verifies) with ECDSA P-256/SHA-256; the signature header is base64 DER. Mapped:
spamreport -> complaint; unsubscribe, group_unsubscribe (scope: its asm_group_id) ->
unsubscribe; delivered ->
delivered; bounce (type bounce -> permanent, blocked -> transient) and dropped -> bounce.
Ignored: processed, deferred, open, click, group_resubscribe and any other event.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from monitor.ingest.bounces import with_reply
from monitor.ingest.events import MAX_AHEAD
from monitor.ingest.providers import provider_of_address
from monitor.ingest.webhooks.errors import (
    AuthenticityRefused,
    MalformedPayload,
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
from monitor.model.events import MAX_SCOPE_LENGTH, BounceKind, Event, EventType, Source

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SendgridBatch",
    "SendgridVerifier",
    "SkippedItem",
    "handle_sendgrid",
    "load_verification_key",
    "parse_sendgrid",
    "verify_sendgrid",
]

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_SG = Source.SENDGRID
_TYPES = {
    "spamreport": EventType.COMPLAINT,
    "unsubscribe": EventType.UNSUBSCRIBE,
    "group_unsubscribe": EventType.UNSUBSCRIBE,
    "delivered": EventType.DELIVERED,
    "bounce": EventType.BOUNCE,
    "dropped": EventType.BOUNCE,
    "deferred": EventType.BOUNCE,  # a deferral: kept with its reply, never counted a bounce
}
_BOUNCE_TYPES = {"bounce": BounceKind.PERMANENT, "blocked": BounceKind.TRANSIENT}


@dataclass(frozen=True, slots=True)
class SendgridVerifier:
    """``[webhooks.sendgrid]``: the verification key and the freshness window."""

    verification_key: ec.EllipticCurvePublicKey = field(repr=False)
    campaign_field: str = "campaign"  # a custom arg (SendGrid puts custom args at top level)
    max_age: dt.timedelta = dt.timedelta(minutes=10)
    max_skew: dt.timedelta = dt.timedelta(minutes=2)  # how far in the future a clock may be


def load_verification_key(value: str) -> ec.EllipticCurvePublicKey:
    """The key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo (PEM also taken).

    Raises:
        WebhookConfigError: not a P-256 public key.
    """
    try:
        if "-----BEGIN" in value:
            key = serialization.load_pem_public_key(value.encode("ascii"))
        else:
            der = base64.b64decode("".join(value.split()), validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise WebhookConfigError(
            "verification_key is not a base64 public key", provider=_SG
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise WebhookConfigError("verification_key is not an ECDSA P-256 key", provider=_SG)
    return key


def verify_sendgrid(
    body: bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    key: ec.EllipticCurvePublicKey,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = dt.timedelta(minutes=10),
    max_skew: dt.timedelta = dt.timedelta(minutes=2),
) -> None:
    """Check the signature headers over the raw body, then their freshness.

    Raises:
        AuthenticityRefused: unsigned, bad_signature, stale_timestamp (too old, or further
            in the future than ``max_skew``).
    """
    if not signature or not timestamp:
        raise AuthenticityRefused(
            Reason.UNSIGNED, "missing SendGrid signature or timestamp header", provider=_SG
        )
    stamp = timestamp.strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise AuthenticityRefused(
            Reason.BAD_SIGNATURE, "the timestamp header is not Unix seconds", provider=_SG
        )
    try:
        der = base64.b64decode("".join(signature.split()), validate=True)
        key.verify(der, stamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise AuthenticityRefused(
            Reason.BAD_SIGNATURE, "the SendGrid signature does not verify", provider=_SG
        ) from None
    age = resolve_now(now) - dt.datetime.fromtimestamp(int(stamp), dt.UTC)
    if age > max_age or -age > max_skew:
        raise AuthenticityRefused(
            Reason.STALE_TIMESTAMP,
            "the signed timestamp is outside the freshness window",
            provider=_SG,
        )


@dataclass(frozen=True, slots=True)
class SkippedItem:
    """An item of a batch that could not be read (its position from 0, and why)."""

    index: int
    message: str


@dataclass(frozen=True, slots=True)
class SendgridBatch:
    events: tuple[Event, ...]
    skipped: tuple[SkippedItem, ...] = ()
    indexes: tuple[int, ...] = ()  # each event's position in the posted array


_AHEAD = MalformedPayload(
    "timestamp is more than a day ahead of the server's clock", provider=Source.SENDGRID
)


def parse_sendgrid(body: bytes | str, *, campaign_field: str = "campaign") -> SendgridBatch:
    """Events of a (verified) SendGrid batch: a JSON array of event objects.

    An item that cannot be read (not an object; a mapped event without a valid ``email``
    or ``timestamp``, as SendGrid sends for a ``dropped`` invalid address) is skipped and
    named in ``skipped``; the rest are read. Refused whole, SendGrid would re-post the
    same batch until it gave up, and every good event in it would be lost.

    Raises:
        MalformedPayload: not JSON, or not an array.
    """
    batch = load_json(body, provider=_SG)
    if not isinstance(batch, list):
        raise MalformedPayload("the body is not a JSON array", provider=_SG)
    events = []
    skipped = []
    indexes = []
    for index, item in enumerate(batch):
        try:
            event = _event(item, campaign_field)
        except MalformedPayload as exc:
            skipped.append(SkippedItem(index, exc.message))
            continue
        if event is not None:
            events.append(event)
            indexes.append(index)
    return SendgridBatch(tuple(events), tuple(skipped), tuple(indexes))


def _event(item: object, campaign_field: str) -> Event | None:
    """One item's event; None for an event type not mapped.

    Raises:
        MalformedPayload: not an object, or no valid ``email`` or ``timestamp``.
    """
    data = require_mapping(item, "event", provider=_SG)
    name = optional_str(data, "event")
    kind = _TYPES.get(name or "")
    if kind is None:
        return None
    recipient = recipient_address(data.get("email"), "email", provider=_SG)
    bounce_kind = None
    if name == "bounce":
        bounce_kind = _BOUNCE_TYPES.get(optional_str(data, "type") or "", BounceKind.UNDETERMINED)
    elif name == "dropped":
        bounce_kind = BounceKind.PERMANENT  # SendGrid will not send to it at all
    elif name == "deferred":
        bounce_kind = BounceKind.TRANSIENT
    event_id = optional_str(data, "sg_event_id")
    group = data.get("asm_group_id")  # the unsubscribe group of a group_unsubscribe
    scope = f"group={group}" if name == "group_unsubscribe" and group is not None else None
    if scope is not None and len(scope) > MAX_SCOPE_LENGTH:
        raise MalformedPayload("asm_group_id is too long", provider=_SG)
    event = Event(
        type=kind,
        campaign=first_campaign([data.get(campaign_field), data.get("category")]),
        occurred_at=parse_unix_time(data.get("timestamp"), "timestamp", provider=_SG),
        source=_SG,
        idempotency_key=None if event_id is None else f"sendgrid:{event_id}",
        recipient=recipient,
        provider=provider_of_address(recipient),
        bounce_kind=bounce_kind,
        scope=scope,
    )
    if kind is EventType.BOUNCE:
        # The receiver's reply: "reason" (bounce, dropped), "response" (deferred).
        reply = data.get("response") if name == "deferred" else data.get("reason")
        event = with_reply(event, reply, status=data.get("status"), deferral=name == "deferred")
    return event


def handle_sendgrid(
    body: bytes,
    headers: Mapping[str, str],
    *,
    config: SendgridVerifier,
    now: dt.datetime | None = None,
) -> SendgridBatch:
    """Verify a SendGrid POST (raw body, request headers) and return its events.

    Raises:
        AuthenticityRefused, MalformedPayload: see :func:`verify_sendgrid`, :func:`parse_sendgrid`.
    """
    verify_sendgrid(
        body,
        signature=_header(headers, SIGNATURE_HEADER),
        timestamp=_header(headers, TIMESTAMP_HEADER),
        key=config.verification_key,
        now=now,
        max_age=config.max_age,
        max_skew=config.max_skew,
    )
    batch = parse_sendgrid(body, campaign_field=config.campaign_field)
    # An event further ahead than a clock can drift would sit in every "last hour"
    # window until it came: skipped, as an item that cannot be read.
    latest = resolve_now(now) + MAX_AHEAD
    late = {i for i, e in enumerate(batch.events) if e.occurred_at > latest}
    if not late:
        return batch
    skipped = [*batch.skipped, *(SkippedItem(batch.indexes[i], _AHEAD.message) for i in late)]
    return SendgridBatch(
        tuple(e for i, e in enumerate(batch.events) if i not in late),
        tuple(sorted(skipped, key=lambda item: item.index)),
        tuple(x for i, x in enumerate(batch.indexes) if i not in late),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)  # case-insensitive already for aiohttp's CIMultiDict
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value
