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


def test_auth_failure_feedback_is_not_a_complaint() -> None:
    """A DMARC failure report SES relays as a Complaint: as over ARF, no complaint (it was
    counted, and its recipient suppressed, as one)."""
    assert parse_ses(complaint(complaintFeedbackType="auth-failure")) == ()
    assert len(parse_ses(complaint(complaintFeedbackType="abuse"))) == 1


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
    "kind", ["Received", "Send", "Reject", "Open", "Click", "Rendering Failure"]
)
def test_other_notification_types_produce_nothing(kind: str) -> None:
    assert parse_ses({"eventType": kind, "mail": MAIL}) == ()


def preferences(unsubscribe_all: bool, **topics: str) -> dict[str, Any]:
    return {
        "unsubscribeAll": unsubscribe_all,
        "topicSubscriptionStatus": [
            {"topicName": name, "subscriptionStatus": status} for name, status in topics.items()
        ],
    }


def subscription(new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    """An SES event-publishing Subscription record, shaped as the SES developer guide's
    example: the recipient's mail, then the contact list and the old and new preferences."""
    change: dict[str, Any] = {
        "contactList": "Newsletter",
        "timestamp": "2026-11-21T08:00:17.910Z",
        "source": "UnsubscribeHeader",
        "newTopicPreferences": new,
    }
    if old is not None:
        change["oldTopicPreferences"] = old
    return {
        "eventType": "Subscription",
        "mail": {**MAIL, "destination": ["reader@gmail.com"]},
        "subscription": change,
    }


@pytest.mark.parametrize(
    ("new", "old", "scope"),
    [
        pytest.param(
            preferences(True, Deals="OptOut"),
            preferences(False, Deals="OptOut"),
            "list=Newsletter all",
            id="unsubscribe-all",
        ),
        pytest.param(
            preferences(False, Deals="OptOut", News="OptOut", Tips="OptIn"),
            preferences(False, Deals="OptIn", News="OptOut", Tips="OptIn"),
            "list=Newsletter topics=Deals",
            id="one-topic-newly-out",
        ),
        pytest.param(
            preferences(False, Deals="OptOut"),
            None,
            "list=Newsletter topics=Deals",
            id="no-old-preferences",
        ),
    ],
)
def test_a_subscription_opt_out_is_an_unsubscribe_with_its_list_and_topics(
    new: dict[str, Any], old: dict[str, Any] | None, scope: str
) -> None:
    (event,) = parse_ses(subscription(new, old), sns_message_id="sns-9")
    assert event.type is EventType.UNSUBSCRIBE
    assert event.scope == scope
    assert event.recipient == "reader@gmail.com"
    assert event.provider is Provider.GOOGLE
    assert event.campaign == "from-tag"
    assert event.occurred_at == dt.datetime(2026, 11, 21, 8, 0, 17, 910000, dt.UTC)
    assert event.idempotency_key is not None
    assert event.idempotency_key.startswith("ses:unsubscribe:")
    assert "reader" not in event.idempotency_key


@pytest.mark.parametrize(
    ("new", "old"),
    [
        pytest.param(
            preferences(False, Deals="OptIn"), preferences(False, Deals="OptOut"), id="opt-in"
        ),
        pytest.param(preferences(True), preferences(True), id="already-out-of-all"),
        pytest.param(
            preferences(False, Deals="OptOut"), preferences(False, Deals="OptOut"), id="no-change"
        ),
    ],
)
def test_a_subscription_change_that_opts_out_of_nothing_new_is_no_event(
    new: dict[str, Any], old: dict[str, Any]
) -> None:
    assert parse_ses(subscription(new, old)) == ()


def test_the_same_subscription_event_twice_has_one_key() -> None:
    first = parse_ses(subscription(preferences(True)), sns_message_id="a")
    again = parse_ses(subscription(preferences(True)), sns_message_id="b")  # another topic
    assert first[0].idempotency_key == again[0].idempotency_key


def test_a_subscription_without_its_contact_list_is_refused() -> None:
    data = subscription(preferences(True))
    del data["subscription"]["contactList"]
    with pytest.raises(MalformedPayload, match="contactList"):
        parse_ses(data)


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


def test_one_recipient_that_is_not_an_address_refuses_the_notification() -> None:
    """Whole, as SES sends it: each entry's reply is paired with its recipient by position,
    so dropping one would give the next recipient the dropped one's reply (a 5.1.1 that
    suppresses). SES reports only the addresses it sent to; a notification naming
    something else is refused (400) and stores nothing."""
    data = bounce()
    data["bounce"]["bouncedRecipients"][0]["emailAddress"] = ";victim@example.org"
    with pytest.raises(MalformedPayload):
        parse_ses(data)
