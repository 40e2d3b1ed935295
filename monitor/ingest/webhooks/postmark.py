"""Postmark webhooks: HTTP Basic credentials (Postmark signs nothing), then the record.

Mapped: SpamComplaint -> complaint; SubscriptionChange with SuppressSending true ->
unsubscribe, its scope the message stream (unless its SuppressionReason is HardBounce or
SpamComplaint: those are counted by their Bounce/SpamComplaint record); Delivery ->
delivered; Bounce -> bounce by Type (see ``_BOUNCE_TYPES``). Ignored: Open, Click,
Inbound and non-failure bounce types.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.ingest.bounces import with_reply
from monitor.ingest.providers import provider_of_address
from monitor.ingest.webhooks.errors import (
    CredentialsRefused,
    MalformedPayload,
    Reason,
    WebhookConfigError,
)
from monitor.ingest.webhooks.fields import (
    JsonObject,
    first_campaign,
    key_digest,
    load_json,
    optional_str,
    parse_iso_time,
    recipient_address,
    require_mapping,
)
from monitor.model.events import BounceKind, Event, EventType, Source

__all__ = [
    "PostmarkVerifier",
    "check_postmark_credentials",
    "handle_postmark",
    "parse_postmark",
]

_PM = Source.POSTMARK

# Bounce Type -> what it means for us (Postmark "Bounce webhook" type table). Anything
# not listed (Subscribe, AutoResponder, AddressChange, OpenRelayTest,
# ChallengeVerification, Unconfirmed, InboundError, TemplateRenderingFailed: not a
# delivery failure, or never sent) produces no event.
_BOUNCE_TYPES: dict[str, EventType | BounceKind] = {
    "HardBounce": BounceKind.PERMANENT,  # 1
    "BadEmailAddress": BounceKind.PERMANENT,  # 100000
    "ManuallyDeactivated": BounceKind.PERMANENT,  # 100002
    "Transient": BounceKind.TRANSIENT,  # 2
    "SoftBounce": BounceKind.TRANSIENT,  # 4096
    "DnsError": BounceKind.TRANSIENT,  # 256
    "SpamNotification": BounceKind.TRANSIENT,  # 512
    "VirusNotification": BounceKind.TRANSIENT,  # 8192
    "Blocked": BounceKind.TRANSIENT,  # 100006: a block on the sender, not a dead address
    "DMARCPolicy": BounceKind.TRANSIENT,  # 100009: the sender's alignment, not the address
    "Unknown": BounceKind.UNDETERMINED,  # 2048
    "SMTPApiError": BounceKind.UNDETERMINED,  # 100007
    "SpamComplaint": EventType.COMPLAINT,  # 100001, as a Bounce record
    "Unsubscribe": EventType.UNSUBSCRIBE,  # 16: an unsubscribe request by reply
}
_TYPE_CODES = {
    1: "HardBounce",
    2: "Transient",
    16: "Unsubscribe",
    256: "DnsError",
    512: "SpamNotification",
    2048: "Unknown",
    4096: "SoftBounce",
    8192: "VirusNotification",
    100000: "BadEmailAddress",
    100001: "SpamComplaint",
    100002: "ManuallyDeactivated",
    100006: "Blocked",
    100007: "SMTPApiError",
    100009: "DMARCPolicy",
}
_COUNTED_ELSEWHERE = frozenset({"HardBounce", "SpamComplaint"})


@dataclass(frozen=True, slots=True)
class PostmarkVerifier:
    """``[webhooks.postmark]``: the Basic credentials put in the webhook URL."""

    username: str
    password: str = field(repr=False)
    campaign_field: str = "campaign"  # a Metadata key

    def __post_init__(self) -> None:
        if not self.username or not self.password:
            raise WebhookConfigError("username and password are both required", provider=_PM)


def check_postmark_credentials(authorization: str | None, *, username: str, password: str) -> None:
    """Check an ``Authorization: Basic`` header in constant time.

    Raises:
        CredentialsRefused: missing_credentials (401), wrong_credentials (403).
    """
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise CredentialsRefused(
            Reason.MISSING_CREDENTIALS, "HTTP Basic credentials required", provider=_PM
        )
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    user, _, secret = given.partition(b":")
    # Both comparisons always run: no early exit tells which half was wrong.
    ok_user = hmac.compare_digest(user, username.encode("utf-8"))
    ok_secret = hmac.compare_digest(secret, password.encode("utf-8"))
    if not (ok_user & ok_secret):
        raise CredentialsRefused(
            Reason.WRONG_CREDENTIALS, "wrong HTTP Basic credentials", provider=_PM
        )


def parse_postmark(
    record: Mapping[str, object] | bytes | str, *, campaign_field: str = "campaign"
) -> tuple[Event, ...]:
    """The event of one Postmark webhook record (or none when ignored).

    Raises:
        MalformedPayload: not a record, or a mapped record without recipient or time.
    """
    source: object = load_json(record, provider=_PM) if isinstance(record, bytes | str) else record
    data = require_mapping(source, "record", provider=_PM)
    record_type = optional_str(data, "RecordType")
    if record_type is None:
        raise MalformedPayload("RecordType is missing", provider=_PM)
    if record_type == "SpamComplaint":
        return _event(data, EventType.COMPLAINT, "Email", "BouncedAt", campaign_field)
    if record_type == "Delivery":
        return _event(data, EventType.DELIVERED, "Recipient", "DeliveredAt", campaign_field)
    if record_type == "SubscriptionChange":
        if data.get("SuppressSending") is not True:
            return ()  # a reactivation
        if optional_str(data, "SuppressionReason") in _COUNTED_ELSEWHERE:
            return ()
        stream = optional_str(data, "MessageStream")
        scope = f"stream={stream}" if stream else None
        return _event(
            data, EventType.UNSUBSCRIBE, "Recipient", "ChangedAt", campaign_field, scope=scope
        )
    if record_type == "Bounce":
        meaning = _BOUNCE_TYPES.get(_bounce_type(data))
        if meaning is None:
            return ()
        if isinstance(meaning, BounceKind):
            (event,) = _event(data, EventType.BOUNCE, "Email", "BouncedAt", campaign_field, meaning)
            return (with_reply(event, data.get("Details") or data.get("Description")),)
        return _event(data, meaning, "Email", "BouncedAt", campaign_field)
    return ()


def _bounce_type(data: JsonObject) -> str:
    name = optional_str(data, "Type")
    if name is not None:
        return name
    code = data.get("TypeCode")
    return _TYPE_CODES.get(code, "") if isinstance(code, int) else ""


def _event(
    data: JsonObject,
    kind: EventType,
    address_field: str,
    time_field: str,
    campaign_field: str,
    bounce_kind: BounceKind | None = None,
    *,
    scope: str | None = None,
) -> tuple[Event, ...]:
    recipient = recipient_address(data.get(address_field), address_field, provider=_PM)
    occurred_at = parse_iso_time(data.get(time_field), time_field, provider=_PM)
    metadata = data.get("Metadata")
    custom = metadata.get(campaign_field) if isinstance(metadata, Mapping) else None
    return (
        Event(
            type=kind,
            campaign=first_campaign([custom, data.get("Tag")]),
            occurred_at=occurred_at,
            source=_PM,
            idempotency_key=_key(data, kind, recipient, occurred_at),
            recipient=recipient,
            provider=provider_of_address(recipient),
            bounce_kind=bounce_kind,
            scope=scope,
        ),
    )


def _key(data: JsonObject, kind: EventType, recipient: str, at: dt.datetime) -> str | None:
    record_id = data.get("ID")
    if isinstance(record_id, int | str) and not isinstance(record_id, bool) and str(record_id):
        return f"postmark:{kind.value}:{record_id}"
    message_id = optional_str(data, "MessageID")
    if message_id is None:
        return None
    # One MessageID covers every recipient of a message: add a digest of the recipient.
    digest = key_digest(message_id, recipient.lower(), at.isoformat())
    return f"postmark:{kind.value}:{message_id}:{digest}"


def handle_postmark(
    body: bytes, *, authorization: str | None, config: PostmarkVerifier
) -> tuple[Event, ...]:
    """Check the credentials, then parse the record.

    Raises:
        CredentialsRefused, MalformedPayload.
    """
    check_postmark_credentials(authorization, username=config.username, password=config.password)
    return parse_postmark(body, campaign_field=config.campaign_field)
