"""Postmark webhooks: HTTP Basic credentials (constant time), record mapping."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

import pytest

from monitor.ingest.webhooks import (
    CredentialsRefused,
    MalformedPayload,
    PostmarkVerifier,
    Reason,
    WebhookConfigError,
    handle_postmark,
    parse_postmark,
)
from monitor.model.events import UNATTRIBUTED, BounceKind, EventType, Provider, Source

PASSWORD = secrets.token_urlsafe(16)
CONFIG = PostmarkVerifier(username="postmark", password=PASSWORD)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def record(kind: str = "Bounce", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "RecordType": kind,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Tag": "welcome",
        "Metadata": {"campaign": "c-1"},
    }
    if kind in ("Bounce", "SpamComplaint"):
        base |= {"ID": 4323372036854775807, "Type": "HardBounce", "TypeCode": 1}
        base |= {"Email": "someone@icloud.com", "BouncedAt": "2026-11-20T10:00:00.1234567Z"}
    elif kind == "Delivery":
        base |= {"Recipient": "someone@icloud.com", "DeliveredAt": "2026-11-20T10:00:00-05:00"}
    else:
        base |= {"Recipient": "someone@icloud.com", "ChangedAt": "2026-11-20T10:00:00Z"}
        base |= {"SuppressSending": True, "SuppressionReason": "ManualSuppression"}
    return base | fields


def test_valid_credentials_accept_the_record() -> None:
    body = json.dumps(record()).encode()
    (parsed,) = handle_postmark(body, authorization=basic("postmark", PASSWORD), config=CONFIG)
    assert (parsed.type, parsed.source, parsed.provider) == (
        EventType.BOUNCE,
        Source.POSTMARK,
        Provider.APPLE,
    )
    assert parsed.occurred_at == dt.datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic", "Basic ", "Bearer abc", "Digest username=postmark"],
    ids=["absent", "empty", "scheme-only", "scheme-space", "bearer", "digest"],
)
def test_missing_credentials(header: str | None) -> None:
    with pytest.raises(CredentialsRefused) as caught:
        handle_postmark(b"{}", authorization=header, config=CONFIG)
    assert caught.value.reason is Reason.MISSING_CREDENTIALS


@pytest.mark.parametrize(
    "header",
    [
        basic("postmark", PASSWORD + "x"),
        basic("postmark", ""),
        basic("other", PASSWORD),
        basic("", PASSWORD),
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"postmark:" + PASSWORD.encode() + b"\x00").decode(),
    ],
    ids=[
        "wrong-password",
        "empty-password",
        "wrong-user",
        "empty-user",
        "garbage",
        "no-colon",
        "nul",
    ],
)
def test_wrong_credentials(header: str) -> None:
    with pytest.raises(CredentialsRefused) as caught:
        handle_postmark(json.dumps(record()).encode(), authorization=header, config=CONFIG)
    assert caught.value.reason is Reason.WRONG_CREDENTIALS
    assert PASSWORD not in str(caught.value)


def test_scheme_is_case_insensitive() -> None:
    header = basic("postmark", PASSWORD).replace("Basic", "basic")
    assert handle_postmark(json.dumps(record()).encode(), authorization=header, config=CONFIG)


def test_credentials_must_be_configured_and_password_is_hidden() -> None:
    with pytest.raises(WebhookConfigError):
        PostmarkVerifier(username="postmark", password="")
    assert PASSWORD not in repr(CONFIG)


@pytest.mark.parametrize(
    ("bounce_type", "expected"),
    [
        ("HardBounce", (EventType.BOUNCE, BounceKind.PERMANENT)),
        ("BadEmailAddress", (EventType.BOUNCE, BounceKind.PERMANENT)),
        ("ManuallyDeactivated", (EventType.BOUNCE, BounceKind.PERMANENT)),
        ("SoftBounce", (EventType.BOUNCE, BounceKind.TRANSIENT)),
        ("Transient", (EventType.BOUNCE, BounceKind.TRANSIENT)),
        ("DnsError", (EventType.BOUNCE, BounceKind.TRANSIENT)),
        ("Blocked", (EventType.BOUNCE, BounceKind.TRANSIENT)),
        ("Unknown", (EventType.BOUNCE, BounceKind.UNDETERMINED)),
        ("SpamComplaint", (EventType.COMPLAINT, None)),
        ("Unsubscribe", (EventType.UNSUBSCRIBE, None)),
        ("AutoResponder", None),
        ("Subscribe", None),
        ("AddressChange", None),
        ("ChallengeVerification", None),
        ("TemplateRenderingFailed", None),
        ("SomethingNew", None),
    ],
)
def test_bounce_types(bounce_type: str, expected: tuple[object, object] | None) -> None:
    events = parse_postmark(record(Type=bounce_type))
    assert [(e.type, e.bounce_kind) for e in events] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("code", "kind"), [(1, BounceKind.PERMANENT), (4096, BounceKind.TRANSIENT), (64, None)]
)
def test_type_code_is_used_when_type_is_absent(code: int, kind: BounceKind | None) -> None:
    data = record(TypeCode=code)
    del data["Type"]
    assert [e.bounce_kind for e in parse_postmark(data)] == ([kind] if kind else [])


def test_record_types() -> None:
    assert [e.type for e in parse_postmark(record("SpamComplaint"))] == [EventType.COMPLAINT]
    assert [e.type for e in parse_postmark(record("Delivery"))] == [EventType.DELIVERED]
    assert [e.type for e in parse_postmark(record("SubscriptionChange"))] == [EventType.UNSUBSCRIBE]
    for ignored in ("Open", "Click", "Inbound", "Whatever"):
        assert parse_postmark(record(ignored)) == ()


@pytest.mark.parametrize(
    ("fields", "events"),
    [
        ({"SuppressSending": False}, 0),  # a reactivation
        ({"SuppressionReason": "HardBounce"}, 0),  # counted by its Bounce record
        ({"SuppressionReason": "SpamComplaint"}, 0),  # counted by its SpamComplaint record
        ({"SuppressionReason": "ManualSuppression", "Origin": "Recipient"}, 1),
        ({"SuppressionReason": None}, 1),
    ],
)
def test_subscription_change(fields: dict[str, Any], events: int) -> None:
    assert len(parse_postmark(record("SubscriptionChange", **fields))) == events


@pytest.mark.parametrize(
    ("fields", "campaign"),
    [
        ({}, "c-1"),
        ({"Metadata": {"other": "x"}}, "welcome"),
        ({"Metadata": {"campaign": "a@b.example"}}, "welcome"),
        ({"Metadata": None, "Tag": ""}, UNATTRIBUTED),
        ({"Metadata": {}, "Tag": None}, UNATTRIBUTED),
    ],
)
def test_campaign_attribution(fields: dict[str, Any], campaign: str) -> None:
    assert parse_postmark(record(**fields))[0].campaign == campaign


def test_idempotency_keys() -> None:
    assert parse_postmark(record())[0].idempotency_key == "postmark:bounce:4323372036854775807"
    first = parse_postmark(record("Delivery"))[0].idempotency_key
    other = parse_postmark(record("Delivery", Recipient="other@icloud.com"))[0].idempotency_key
    again = parse_postmark(record("Delivery"))[0].idempotency_key
    assert first == again != other
    assert first is not None
    assert "icloud" not in first


@pytest.mark.parametrize(
    "data",
    [
        {"Email": "x@y.example"},
        {"RecordType": "Bounce", "Type": "HardBounce", "BouncedAt": "2026-11-20T10:00:00Z"},
        {"RecordType": "Delivery", "Recipient": "x@y.example", "DeliveredAt": "tuesday"},
    ],
    ids=["no-record-type", "no-email", "bad-time"],
)
def test_malformed_records(data: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_postmark(data)
    assert "@" not in str(caught.value)


def test_body_must_be_a_json_object() -> None:
    for body in (b"[]", b"nope"):
        with pytest.raises(MalformedPayload):
            parse_postmark(body)


def test_an_unsubscribe_carries_its_message_stream() -> None:
    (event,) = parse_postmark(record("SubscriptionChange", MessageStream="broadcast"))
    assert event.scope == "stream=broadcast"
    (unsaid,) = parse_postmark(record("SubscriptionChange"))
    assert unsaid.scope is None
