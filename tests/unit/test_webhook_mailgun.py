"""Mailgun webhooks: HMAC of timestamp+token, time window, token replay cache, event mapping."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any

import pytest

from monitor.ingest.webhooks import (
    AuthenticityRefused,
    MailgunVerifier,
    MalformedPayload,
    Reason,
    TokenCache,
    WebhookConfigError,
    handle_mailgun,
    parse_mailgun,
)
from monitor.model.events import UNATTRIBUTED, BounceKind, EventType, Provider, Source

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
KEY = secrets.token_hex(16)
CONFIG = MailgunVerifier(signing_key=KEY)


def signature(key: str = KEY, when: dt.datetime = NOW, token: str | None = None) -> dict[str, str]:
    stamp = str(int(when.timestamp()))
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": digest}


def event_data(name: str = "complained", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{name}",
        "timestamp": 1763640000.25,
        "event": name,
        "recipient": "someone@outlook.com",
        "tags": ["tag-1", "tag-2"],
        "user-variables": {"campaign": "c-1"},
        **fields,
    }


def body(sig: dict[str, str] | None = None, data: dict[str, Any] | None = None) -> bytes:
    return json.dumps(
        {"signature": sig or signature(), "event-data": data or event_data()}
    ).encode()


def refused(reason: Reason, payload: bytes, cache: TokenCache | None = None) -> None:
    with pytest.raises(AuthenticityRefused) as caught:
        handle_mailgun(payload, config=CONFIG, replay_cache=cache or TokenCache(), now=NOW)
    assert caught.value.reason is reason


def test_signed_event_is_accepted() -> None:
    (parsed,) = handle_mailgun(body(), config=CONFIG, replay_cache=TokenCache(), now=NOW)
    assert (parsed.type, parsed.source, parsed.provider) == (
        EventType.COMPLAINT,
        Source.MAILGUN,
        Provider.MICROSOFT,
    )
    assert parsed.idempotency_key == "mailgun:complaint:evt-complained"
    assert parsed.occurred_at == dt.datetime.fromtimestamp(1763640000.25, dt.UTC)


def test_wrong_key_is_bad_signature() -> None:
    refused(Reason.BAD_SIGNATURE, body(signature(key="another-key")))


def test_tampered_token_or_timestamp_is_bad_signature() -> None:
    sig = signature()
    refused(Reason.BAD_SIGNATURE, body({**sig, "token": sig["token"] + "0"}))
    later = str(int(sig["timestamp"]) + 1)
    refused(Reason.BAD_SIGNATURE, body({**sig, "timestamp": later}))
    refused(Reason.BAD_SIGNATURE, body({**sig, "signature": "00" * 32}))
    refused(Reason.BAD_SIGNATURE, body({**sig, "timestamp": "12ab"}))


def test_uppercase_hex_signature_is_accepted() -> None:
    sig = signature()
    payload = body({**sig, "signature": sig["signature"].upper()})
    assert handle_mailgun(payload, config=CONFIG, replay_cache=TokenCache(), now=NOW)


@pytest.mark.parametrize(
    ("signed_at", "accepted"),
    [
        (NOW - dt.timedelta(minutes=9), True),
        (NOW - dt.timedelta(minutes=11), False),
        (NOW + dt.timedelta(minutes=1), True),
        (NOW + dt.timedelta(minutes=5), False),
    ],
    ids=["9min-old", "11min-old", "1min-ahead", "5min-ahead"],
)
def test_timestamp_window(signed_at: dt.datetime, accepted: bool) -> None:
    payload = body(signature(when=signed_at))
    if accepted:
        assert handle_mailgun(payload, config=CONFIG, replay_cache=TokenCache(), now=NOW)
    else:
        refused(Reason.STALE_TIMESTAMP, payload)


def test_replayed_token_is_refused() -> None:
    cache = TokenCache()
    payload = body()
    assert handle_mailgun(payload, config=CONFIG, replay_cache=cache, now=NOW)
    refused(Reason.REPLAYED, payload, cache)
    # The event is not authenticated by Mailgun's HMAC: a replayed token with other event
    # data is refused just the same.
    sig = json.loads(payload)["signature"]
    refused(Reason.REPLAYED, body(sig, event_data("delivered")), cache)


def test_forged_payloads_do_not_enter_the_replay_cache() -> None:
    cache = TokenCache()
    sig = signature()
    refused(Reason.BAD_SIGNATURE, body({**sig, "signature": "ab" * 32}), cache)
    assert len(cache) == 0
    assert handle_mailgun(body(sig), config=CONFIG, replay_cache=cache, now=NOW)


def test_token_cache_is_bounded_and_expires() -> None:
    cache = TokenCache(max_entries=2)
    assert cache.remember("a", until=100.0, now=0.0)
    assert not cache.remember("a", until=100.0, now=1.0)
    assert cache.remember("b", until=100.0, now=1.0)
    assert cache.remember("c", until=100.0, now=1.0)
    assert len(cache) == 2  # "a", the oldest, was dropped
    assert cache.remember("d", until=300.0, now=200.0)  # b and c expired
    assert len(cache) == 1
    with pytest.raises(ValueError, match="max_entries"):
        TokenCache(max_entries=0)


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps({"event-data": event_data()}).encode(),
        json.dumps({"signature": {"token": "t"}, "event-data": event_data()}).encode(),
        json.dumps({"signature": "x", "event-data": event_data()}).encode(),
    ],
    ids=["no-signature", "partial-signature", "signature-not-object"],
)
def test_unsigned_payloads_are_refused(payload: bytes) -> None:
    refused(Reason.UNSIGNED, payload)


@pytest.mark.parametrize(
    "payload", [b"nope", b"[]", json.dumps({"signature": signature()}).encode()]
)
def test_malformed_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(MalformedPayload):
        handle_mailgun(payload, config=CONFIG, replay_cache=TokenCache(), now=NOW)


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("complained", {}, (EventType.COMPLAINT, None)),
        ("unsubscribed", {}, (EventType.UNSUBSCRIBE, None)),
        ("delivered", {}, (EventType.DELIVERED, None)),
        ("failed", {"severity": "permanent"}, (EventType.BOUNCE, BounceKind.PERMANENT)),
        ("failed", {"severity": "temporary"}, (EventType.BOUNCE, BounceKind.TRANSIENT)),
        ("failed", {}, (EventType.BOUNCE, BounceKind.UNDETERMINED)),
    ],
)
def test_event_mapping(name: str, fields: dict[str, Any], expected: tuple[object, object]) -> None:
    (parsed,) = parse_mailgun(event_data(name, **fields))
    assert (parsed.type, parsed.bounce_kind) == expected


@pytest.mark.parametrize(
    "name",
    [
        "accepted",
        "opened",
        "clicked",
        "stored",
        "rejected",
        "list_member_uploaded",
        "list_member_upload_error",
        "list_uploaded",
        None,
    ],
)
def test_other_events_are_ignored(name: str | None) -> None:
    assert parse_mailgun({"event": name}) == ()


@pytest.mark.parametrize(
    ("fields", "campaign"),
    [
        ({}, "c-1"),
        ({"user-variables": {"other": "x"}}, "tag-1"),
        ({"user-variables": {"campaign": "a@b.example"}}, "tag-1"),
        ({"user-variables": None, "tags": []}, UNATTRIBUTED),
        ({"user-variables": {}, "tags": None}, UNATTRIBUTED),
    ],
)
def test_campaign_attribution(fields: dict[str, Any], campaign: str) -> None:
    assert parse_mailgun(event_data(**fields))[0].campaign == campaign


def test_malformed_recipient_is_refused() -> None:
    with pytest.raises(MalformedPayload):
        parse_mailgun(event_data(recipient=None))


def test_config_needs_a_key_and_hides_it() -> None:
    with pytest.raises(WebhookConfigError):
        MailgunVerifier(signing_key="")
    assert KEY not in repr(CONFIG)


def test_a_forgotten_token_is_accepted_again() -> None:
    from monitor.ingest.webhooks.replay import TokenCache

    cache = TokenCache()
    assert cache.remember("t" * 50, until=100.0, now=0.0)
    assert not cache.remember("t" * 50, until=100.0, now=1.0)
    cache.forget("t" * 50)
    assert cache.remember("t" * 50, until=100.0, now=2.0)
