"""SES notifications into events: types, bounce kinds, suppression-list complaints,
campaign attribution, idempotency keys and providers."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from monitor.ingest.webhooks import MalformedPayload, parse_ses
from monitor.model.events import UNATTRIBUTED, BounceKind, EventType, Provider, Source

MAIL: dict[str, Any] = {
    "timestamp": "2026-11-20T09:59:58.000Z",
    "messageId": "0100019-mail-1",
    "source": "news@sender.example",
    "destination": ["a@gmail.com", "b@yahoo.co.uk"],
    "headers": [
        {"name": "From", "value": "news@sender.example"},
        {"name": "x-campaign-id", "value": "spring-sale"},
    ],
    "commonHeaders": {"from": ["news@sender.example"], "subject": "Hi"},
    "tags": {"ses:configuration-set": ["default"], "campaign": ["from-tag"]},
}


def bounce(kind: str = "Permanent", **mail: Any) -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": "a@gmail.com", "status": "5.1.1"},
                {"emailAddress": "b@yahoo.co.uk", "status": "5.1.1"},
            ],
            "timestamp": "2026-11-20T10:00:00.000Z",
            "feedbackId": "0100-feedback-1",
            "someFutureField": {"nested": True},
        },
        "mail": {**MAIL, **mail},
    }


def complaint(**fields: Any) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "a@hotmail.com"}],
            "timestamp": "2026-11-20T11:00:00.000Z",
            "feedbackId": "0100-feedback-2",
            "complaintFeedbackType": "abuse",
            **fields,
        },
        "mail": MAIL,
    }


def delivery(recipients: list[str]) -> dict[str, Any]:
    return {
        "notificationType": "Delivery",
        "delivery": {
            "timestamp": "2026-11-20T10:00:02.000Z",
            "recipients": recipients,
            "smtpResponse": "250 ok",
        },
        "mail": MAIL,
    }


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("Permanent", BounceKind.PERMANENT),
        ("Transient", BounceKind.TRANSIENT),
        ("Undetermined", BounceKind.UNDETERMINED),
        ("SomethingNew", BounceKind.UNDETERMINED),
    ],
)
def test_bounce_type_maps_to_bounce_kind(kind: str, expected: BounceKind) -> None:
    events = parse_ses(bounce(kind))
    assert [(e.type, e.bounce_kind) for e in events] == [(EventType.BOUNCE, expected)] * 2


def test_bounce_makes_one_event_per_recipient_with_provider_and_time() -> None:
    first, second = parse_ses(json.dumps(bounce()))
    assert (first.recipient, first.provider) == ("a@gmail.com", Provider.GOOGLE)
    assert (second.recipient, second.provider) == ("b@yahoo.co.uk", Provider.YAHOO)
    assert first.occurred_at == dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    assert first.source is Source.SES
    assert first.idempotency_key != second.idempotency_key
    assert "gmail" not in (first.idempotency_key or "")


def test_complaint_per_recipient_keeps_feedback_type() -> None:
    data = complaint(
        complainedRecipients=[{"emailAddress": "a@hotmail.com"}, {"emailAddress": "c@me.com"}]
    )
    events = parse_ses(data)
    assert [(e.type, e.provider, e.feedback_type) for e in events] == [
        (EventType.COMPLAINT, Provider.MICROSOFT, "abuse"),
        (EventType.COMPLAINT, Provider.APPLE, "abuse"),
    ]


def test_suppression_list_complaint_is_not_a_complaint() -> None:
    # SES accepted the message but never sent it: no recipient complained.
    assert parse_ses(complaint(complaintSubType="OnAccountSuppressionList")) == ()
    assert len(parse_ses(complaint(complaintSubType=None))) == 1


def test_not_spam_feedback_is_not_a_complaint() -> None:
    assert parse_ses(complaint(complaintFeedbackType="not-spam")) == ()


def test_delivery_events_and_keys_distinct_per_recipient() -> None:
    together = parse_ses(delivery(["a@gmail.com", "b@icloud.com"]))
    assert [e.type for e in together] == [EventType.DELIVERED] * 2
    # SES may also send one notification per recipient: keys must still differ...
    split = parse_ses(delivery(["a@gmail.com"])) + parse_ses(delivery(["b@icloud.com"]))
    assert {e.idempotency_key for e in split} == {e.idempotency_key for e in together}
    assert len({e.idempotency_key for e in split}) == 2
    # ... and an SNS retry (another SNS MessageId) of the same content keeps its keys.
    retry = parse_ses(delivery(["a@gmail.com"]), sns_message_id="retry-id")
    assert retry[0].idempotency_key == split[0].idempotency_key


def test_event_publishing_form_is_read() -> None:
    data = bounce()
    data["eventType"] = data.pop("notificationType")
    assert [e.type for e in parse_ses(data)] == [EventType.BOUNCE] * 2


@pytest.mark.parametrize(
    "kind", ["Received", "Send", "Reject", "Open", "Click", "DeliveryDelay", "Subscription"]
)
def test_other_notification_types_produce_nothing(kind: str) -> None:
    assert parse_ses({"eventType": kind, "mail": MAIL}) == ()


def test_campaign_from_tag_then_header_then_unattributed() -> None:
    assert parse_ses(bounce())[0].campaign == "from-tag"
    assert parse_ses(bounce(), campaign_field="cmp")[0].campaign == "spring-sale"
    no_tags = bounce(tags={})
    assert parse_ses(no_tags)[0].campaign == "spring-sale"
    assert parse_ses(no_tags, campaign_headers=("X-Other",))[0].campaign == UNATTRIBUTED
    bare = bounce(tags=None, headers=None)
    assert parse_ses(bare)[0].campaign == UNATTRIBUTED


def test_campaign_from_common_headers() -> None:
    data = bounce(tags=None, headers=None, commonHeaders={"X-Campaign-ID": "common"})
    assert parse_ses(data)[0].campaign == "common"


def test_campaign_that_looks_like_an_address_is_not_used() -> None:
    data = bounce(tags={"campaign": ["someone@example.com"]})
    assert parse_ses(data)[0].campaign == "spring-sale"


def test_unknown_fields_are_tolerated() -> None:
    data = copy.deepcopy(bounce())
    data["brandNew"] = [1, 2, 3]
    data["mail"]["newField"] = {"x": None}
    assert len(parse_ses(data)) == 2


@pytest.mark.parametrize(
    "data",
    [
        {"mail": MAIL},
        {"notificationType": "Bounce", "mail": MAIL},
        {"notificationType": "Bounce", "bounce": {"bouncedRecipients": "x"}, "mail": MAIL},
        {"notificationType": "Delivery", "delivery": {"recipients": [42]}, "mail": MAIL},
        {"notificationType": "Delivery", "delivery": {"recipients": ["a@b.example"]}},
        {
            "notificationType": "Delivery",
            "delivery": {"recipients": ["a@b.example"], "timestamp": "yesterday"},
            "mail": {},
        },
    ],
    ids=["no-type", "no-bounce", "recipients-not-list", "recipient-not-str", "no-mail", "bad-time"],
)
def test_malformed_notifications_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_ses(data)
    assert "@" not in str(caught.value)


def test_recipient_that_is_not_an_address_is_refused_without_echoing_it() -> None:
    data = delivery(["Zebulon Quux@ x"])
    with pytest.raises(MalformedPayload) as caught:
        parse_ses(data)
    assert "Zebulon" not in str(caught.value)
    assert "@" not in repr(caught.value)
