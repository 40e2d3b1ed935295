"""Amazon SES notifications (via SNS) into events: Bounce, Complaint, Delivery, Subscription.

Both forms are read: ``notificationType`` (identity notifications) and ``eventType``
(configuration-set event publishing). A Subscription event (SES list management: a
recipient used the unsubscribe link or header of a mail sent to a contact list) is an
unsubscribe when it opts out of something it was not opted out of before: the whole list
(``unsubscribeAll``) or a topic; its scope is the contact list and those topics. Other
types (Received, Send, Reject, Open, Click, DeliveryDelay, Rendering Failure) produce no
event (the README says why). Unknown fields are ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from monitor.ingest.bounces import with_reply
from monitor.ingest.providers import provider_of_address
from monitor.ingest.webhooks.errors import MalformedPayload
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
from monitor.ingest.webhooks.sns import (
    PinnedCertificates,
    SnsMessage,
    SnsType,
    confirmation_url,
    verify_sns,
)
from monitor.model.events import MAX_SCOPE_LENGTH, BounceKind, Event, EventType, Source

__all__ = ["SesOutcome", "SesVerifier", "handle_ses", "parse_ses"]

_SES = Source.SES
_BOUNCE_KINDS = {
    "Permanent": BounceKind.PERMANENT,
    "Transient": BounceKind.TRANSIENT,
    "Undetermined": BounceKind.UNDETERMINED,
}
# SES accepted the message but never sent it (the address is on the account's
# suppression list): not a complaint by a recipient, so not counted as one.
_SUPPRESSED_SUBTYPE = "OnAccountSuppressionList"


@dataclass(frozen=True, slots=True)
class SesVerifier:
    """``[webhooks.ses]``: the topic allow-list and the pinned signing certificates."""

    topic_arns: frozenset[str]
    certificates: PinnedCertificates
    campaign_field: str = "campaign"  # SES message tag naming the campaign
    campaign_headers: tuple[str, ...] = ("X-Campaign-ID",)
    max_age: dt.timedelta | None = None  # SNS retries for hours; idempotency keys dedupe
    fetch_certificates: bool = True  # fetch a certificate that is not pinned (SigningCertURL)


@dataclass(frozen=True, slots=True)
class SesOutcome:
    """A verified SNS message: its events, and for a SubscriptionConfirmation the URL to GET."""

    message: SnsMessage
    events: tuple[Event, ...] = ()
    confirm_url: str | None = field(default=None, repr=False)


def handle_ses(
    body: bytes,
    *,
    config: SesVerifier,
    now: dt.datetime | None = None,
    certificates: PinnedCertificates | None = None,
) -> SesOutcome:
    """Verify an SNS POST body and turn it into events (or a checked confirmation URL).

    ``certificates`` replaces the pinned ones (the HTTP layer passes them plus a fetched one).

    Raises:
        MalformedPayload, AuthenticityRefused: from :func:`verify_sns` or the notification.
        UnsafeConfirmation: a SubscriptionConfirmation whose SubscribeURL is unsafe.
    """
    message = verify_sns(
        require_mapping(load_json(body, provider=_SES), "SNS message", provider=_SES),
        topic_arns=config.topic_arns,
        certificates=certificates if certificates is not None else config.certificates,
        now=now,
        max_age=config.max_age,
    )
    if message.type is SnsType.SUBSCRIPTION_CONFIRMATION:
        return SesOutcome(message, confirm_url=confirmation_url(message))
    if message.type is SnsType.UNSUBSCRIBE_CONFIRMATION:
        return SesOutcome(message)
    events = parse_ses(
        message.message,
        sns_message_id=message.message_id,
        campaign_field=config.campaign_field,
        campaign_headers=config.campaign_headers,
    )
    return SesOutcome(message, events=events)


def parse_ses(
    notification: Mapping[str, object] | str | bytes,
    *,
    sns_message_id: str | None = None,
    campaign_field: str = "campaign",
    campaign_headers: Collection[str] = ("X-Campaign-ID",),
) -> tuple[Event, ...]:
    """Events of one SES notification (the SNS ``Message``, a JSON string or object).

    One event per recipient. A Complaint with ``complaintSubType`` OnAccountSuppressionList
    (never sent) or feedback type ``not-spam`` yields none. Idempotency keys derive from the
    ``feedbackId`` (Bounce, Complaint) or the SES ``messageId`` (Delivery) and a digest of
    the recipient, so the same notification through two topics or an SNS retry counts once.

    Raises:
        MalformedPayload: not an SES notification, or a Bounce/Complaint/Delivery missing
            its object, recipients or time.
    """
    source: object = (
        load_json(notification, provider=_SES)
        if isinstance(notification, str | bytes)
        else notification
    )
    data = require_mapping(source, "SES notification", provider=_SES)
    kind = optional_str(data, "notificationType") or optional_str(data, "eventType")
    if kind is None:
        raise MalformedPayload("neither notificationType nor eventType", provider=_SES)
    if kind not in ("Bounce", "Complaint", "Delivery", "Subscription", "DeliveryDelay"):
        return ()
    mail = require_mapping(data.get("mail"), "mail", provider=_SES)
    campaign = first_campaign(
        [_tag(mail, campaign_field), *(_header(mail, name) for name in campaign_headers)]
    )
    anchor_mail_id = optional_str(mail, "messageId")

    if kind == "Subscription":
        subscription = require_mapping(data.get("subscription"), "subscription", provider=_SES)
        scope = _opt_out_scope(subscription)
        if scope is None:
            return ()  # an opt-in, or nothing newly opted out of
        return _events(
            EventType.UNSUBSCRIBE,
            _recipients(mail, "destination", None),
            occurred_at=_when(subscription, mail),
            campaign=campaign,
            anchor=f"{anchor_mail_id}:{subscription.get('timestamp')}" if anchor_mail_id else None,
            sns_message_id=sns_message_id,
            scope=scope,
        )
    if kind == "Bounce":
        bounce = require_mapping(data.get("bounce"), "bounce", provider=_SES)
        raw_kind = optional_str(bounce, "bounceType")
        found = _recipients(bounce, "bouncedRecipients", "emailAddress")
        events = _events(
            EventType.BOUNCE,
            found,
            occurred_at=_when(bounce, mail),
            campaign=campaign,
            anchor=optional_str(bounce, "feedbackId") or anchor_mail_id,
            sns_message_id=sns_message_id,
            bounce_kind=_BOUNCE_KINDS.get(raw_kind or "", BounceKind.UNDETERMINED),
        )
        return _with_replies(events, bounce, "bouncedRecipients", deferral=False)
    if kind == "DeliveryDelay":
        # A retry in progress: a deferral, counted per class of the receiver's reply.
        delay = require_mapping(data.get("deliveryDelay"), "deliveryDelay", provider=_SES)
        found = _recipients(delay, "delayedRecipients", "emailAddress")
        events = _events(
            EventType.BOUNCE,
            found,
            occurred_at=_when(delay, mail),
            campaign=campaign,
            anchor=f"{anchor_mail_id}:delay:{delay.get('timestamp')}" if anchor_mail_id else None,
            sns_message_id=sns_message_id,
            bounce_kind=BounceKind.TRANSIENT,
        )
        return _with_replies(events, delay, "delayedRecipients", deferral=True)
    if kind == "Complaint":
        complaint = require_mapping(data.get("complaint"), "complaint", provider=_SES)
        feedback_type = optional_str(complaint, "complaintFeedbackType")
        if complaint.get("complaintSubType") == _SUPPRESSED_SUBTYPE or feedback_type in (
            "not-spam",
            "auth-failure",  # a DMARC failure report relayed: no recipient complained
        ):
            return ()
        found = _recipients(complaint, "complainedRecipients", "emailAddress")
        return _events(
            EventType.COMPLAINT,
            found,
            occurred_at=_when(complaint, mail),
            campaign=campaign,
            anchor=optional_str(complaint, "feedbackId") or anchor_mail_id,
            sns_message_id=sns_message_id,
            feedback_type=feedback_type,
        )
    delivery = require_mapping(data.get("delivery"), "delivery", provider=_SES)
    found = _recipients(delivery, "recipients", None)
    return _events(
        EventType.DELIVERED,
        found,
        occurred_at=_when(delivery, mail),
        campaign=campaign,
        anchor=anchor_mail_id,
        sns_message_id=sns_message_id,
    )


def _events(
    kind: EventType,
    recipients: Sequence[str],
    *,
    occurred_at: dt.datetime,
    campaign: str,
    anchor: str | None,
    sns_message_id: str | None,
    bounce_kind: BounceKind | None = None,
    feedback_type: str | None = None,
    scope: str | None = None,
) -> tuple[Event, ...]:
    events = []
    for index, recipient in enumerate(recipients):
        if anchor is not None:
            key: str | None = f"ses:{kind.value}:{key_digest(anchor, recipient.lower())}"
        elif sns_message_id is not None:
            key = f"ses:{kind.value}:sns:{sns_message_id}:{index}"
        else:
            key = None
        events.append(
            Event(
                type=kind,
                campaign=campaign,
                occurred_at=occurred_at,
                source=_SES,
                idempotency_key=key,
                recipient=recipient,
                provider=provider_of_address(recipient),
                bounce_kind=bounce_kind,
                feedback_type=feedback_type,
                scope=scope,
            )
        )
    return tuple(events)


_OPT_OUT = "OptOut"


def _opt_out_scope(subscription: JsonObject) -> str | None:
    """``list=<contact list> all`` or ``list=<contact list> topics=<a,b>`` for what the
    change newly opts out of; None when it opts out of nothing new (an opt-in).

    Raises:
        MalformedPayload: no contact list, or preferences that are not objects.
    """
    contact_list = optional_str(subscription, "contactList")
    if contact_list is None:
        raise MalformedPayload("subscription.contactList is missing", provider=_SES)
    new = _preferences(subscription, "newTopicPreferences")
    old = _preferences(subscription, "oldTopicPreferences")
    if new.get("unsubscribeAll") is True and old.get("unsubscribeAll") is not True:
        return f"list={contact_list} all"[:MAX_SCOPE_LENGTH]
    before = _opted_out_topics(old)
    topics = [t for t in _opted_out_topics(new) if t not in before]
    if not topics:
        return None
    return f"list={contact_list} topics={','.join(topics)}"[:MAX_SCOPE_LENGTH]


def _preferences(subscription: JsonObject, name: str) -> JsonObject:
    value = subscription.get(name)
    if value is None:
        return {}
    return require_mapping(value, f"subscription.{name}", provider=_SES)


def _opted_out_topics(preferences: JsonObject) -> list[str]:
    found = []
    statuses = preferences.get("topicSubscriptionStatus")
    for item in statuses if isinstance(statuses, list) else ():
        if isinstance(item, Mapping) and item.get("subscriptionStatus") == _OPT_OUT:
            name = item.get("topicName")
            if isinstance(name, str) and name:
                found.append(name)
    return found


def _with_replies(
    events: tuple[Event, ...], detail: JsonObject, name: str, *, deferral: bool
) -> tuple[Event, ...]:
    """Each recipient's ``diagnosticCode`` and ``status`` (SES bounced/delayedRecipients)."""
    items = detail.get(name)
    entries = [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []
    return (
        tuple(
            with_reply(
                event,
                entry.get("diagnosticCode"),
                status=entry.get("status"),
                deferral=deferral,
            )
            for event, entry in zip(events, entries, strict=False)
        )
        + events[len(entries) :]
    )


def _recipients(obj: JsonObject, name: str, address_field: str | None) -> list[str]:
    items = obj.get(name)
    if not isinstance(items, list):
        raise MalformedPayload(f"{name} is missing or not a list", provider=_SES)
    found = []
    for item in items:
        if address_field is not None:
            item = require_mapping(item, name, provider=_SES).get(address_field)
        found.append(recipient_address(item, name, provider=_SES))
    return found


def _when(detail: JsonObject, mail: JsonObject) -> dt.datetime:
    value = detail.get("timestamp", mail.get("timestamp"))
    return parse_iso_time(value, "timestamp", provider=_SES)


def _tag(mail: JsonObject, name: str) -> object:
    """An SES message tag (``mail.tags`` maps a tag name to a list of values)."""
    tags = mail.get("tags")
    return tags.get(name) if isinstance(tags, Mapping) else None


def _header(mail: JsonObject, name: str) -> object:
    wanted = name.lower()
    headers = mail.get("headers")
    if isinstance(headers, list):
        for header in headers:
            if isinstance(header, Mapping) and str(header.get("name", "")).lower() == wanted:
                return header.get("value")
    common = mail.get("commonHeaders")
    if isinstance(common, Mapping):
        for key, value in common.items():
            if isinstance(key, str) and key.lower() == wanted:
                return value
    return None
