"""SendGrid signed event webhook: ECDSA over timestamp + raw body, freshness, event mapping."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from monitor.ingest.webhooks import (
    AuthenticityRefused,
    MalformedPayload,
    Reason,
    SendgridVerifier,
    WebhookConfigError,
    handle_sendgrid,
    load_verification_key,
    parse_sendgrid,
)
from monitor.ingest.webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER
from monitor.model.events import UNATTRIBUTED, BounceKind, EventType, Provider, Source

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def config(private_key: ec.EllipticCurvePrivateKey) -> SendgridVerifier:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # As SendGrid's settings page shows it: base64 of the DER SubjectPublicKeyInfo.
    return SendgridVerifier(verification_key=load_verification_key(base64.b64encode(der).decode()))


def signed_headers(
    key: ec.EllipticCurvePrivateKey, body: bytes, when: dt.datetime = NOW
) -> dict[str, str]:
    stamp = str(int(when.timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}


def body_of(*events: object) -> bytes:
    return json.dumps(list(events)).encode()


def event(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": "someone@gmail.com",
        "timestamp": 1763640000,
        "event": name,
        "sg_event_id": f"id-{name}",
        **fields,
    }


def refused(
    reason: Reason,
    body: bytes,
    headers: dict[str, str],
    config: SendgridVerifier,
    now: dt.datetime = NOW,
) -> None:
    with pytest.raises(AuthenticityRefused) as caught:
        handle_sendgrid(body, headers, config=config, now=now)
    assert caught.value.reason is reason


def test_signed_batch_is_accepted(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier
) -> None:
    body = body_of(event("delivered"), event("spamreport"))
    batch = handle_sendgrid(body, signed_headers(private_key, body), config=config, now=NOW)
    assert batch.skipped == ()
    events = batch.events
    assert [e.type for e in events] == [EventType.DELIVERED, EventType.COMPLAINT]
    assert events[0].source is Source.SENDGRID
    assert events[0].provider is Provider.GOOGLE
    assert events[0].idempotency_key == "sendgrid:id-delivered"


def test_header_names_are_case_insensitive(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier
) -> None:
    body = body_of(event("delivered"))
    headers = {k.lower(): v for k, v in signed_headers(private_key, body).items()}
    assert len(handle_sendgrid(body, headers, config=config, now=NOW).events) == 1


def test_tampered_body_is_bad_signature(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier
) -> None:
    body = body_of(event("delivered"))
    headers = signed_headers(private_key, body)
    refused(Reason.BAD_SIGNATURE, body.replace(b"delivered", b"spamreport"), headers, config)
    refused(Reason.BAD_SIGNATURE, body + b" ", headers, config)


def test_reserialised_json_no_longer_verifies(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier
) -> None:
    body = b'[{"email":"someone@gmail.com","event":"delivered","timestamp":1763640000}]'
    headers = signed_headers(private_key, body)
    refused(Reason.BAD_SIGNATURE, json.dumps(json.loads(body)).encode(), headers, config)


def test_wrong_key_is_bad_signature(config: SendgridVerifier) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    body = body_of(event("spamreport"))
    refused(Reason.BAD_SIGNATURE, body, signed_headers(other, body), config)


def test_changed_timestamp_header_is_bad_signature(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier
) -> None:
    body = body_of(event("spamreport"))
    headers = signed_headers(private_key, body)
    headers[TIMESTAMP_HEADER] = str(int(headers[TIMESTAMP_HEADER]) + 1)
    refused(Reason.BAD_SIGNATURE, body, headers, config)
    headers[TIMESTAMP_HEADER] = "soon"
    refused(Reason.BAD_SIGNATURE, body, headers, config)


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_missing_header_is_unsigned(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier, missing: str
) -> None:
    body = body_of(event("spamreport"))
    headers = signed_headers(private_key, body)
    del headers[missing]
    refused(Reason.UNSIGNED, body, headers, config)


def test_garbage_signature_is_bad_signature(config: SendgridVerifier) -> None:
    body = body_of(event("spamreport"))
    headers = {SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl", TIMESTAMP_HEADER: "1763640000"}
    refused(Reason.BAD_SIGNATURE, body, headers, config)
    headers[SIGNATURE_HEADER] = "%%%"
    refused(Reason.BAD_SIGNATURE, body, headers, config)


@pytest.mark.parametrize(
    ("signed_at", "accepted"),
    [
        (NOW - dt.timedelta(minutes=9), True),
        (NOW - dt.timedelta(minutes=11), False),
        (NOW - dt.timedelta(days=400), False),
        (NOW + dt.timedelta(minutes=1), True),
        (NOW + dt.timedelta(minutes=5), False),
    ],
    ids=["9min-old", "11min-old", "400d-old", "1min-ahead", "5min-ahead"],
)
def test_freshness_window(
    private_key: ec.EllipticCurvePrivateKey,
    config: SendgridVerifier,
    signed_at: dt.datetime,
    accepted: bool,
) -> None:
    body = body_of(event("spamreport"))
    headers = signed_headers(private_key, body, signed_at)
    if accepted:
        assert handle_sendgrid(body, headers, config=config, now=NOW).events
    else:
        refused(Reason.STALE_TIMESTAMP, body, headers, config)


def test_signed_but_malformed_body_is_malformed(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier
) -> None:
    for body in (b"{}", b"not json", b'"[]"'):
        with pytest.raises(MalformedPayload):
            handle_sendgrid(body, signed_headers(private_key, body), config=config, now=NOW)


def test_an_unreadable_item_is_skipped_and_named_and_the_rest_are_read() -> None:
    body = body_of(
        event("delivered"),
        event("dropped", email="", reason="Invalid"),  # SendGrid's own, for a bad address
        "not an object",
        event("spamreport", timestamp="yesterday"),
        event("spamreport"),
        event("delivered", email="a@b@example.com"),  # an '@' the store cannot pseudonymise
        event("group_unsubscribe", asm_group_id="9" * 300),  # a scope over 255 characters
    )
    batch = parse_sendgrid(body)
    assert [e.type for e in batch.events] == [EventType.DELIVERED, EventType.COMPLAINT]
    assert [(item.index, item.message) for item in batch.skipped] == [
        (1, "sendgrid: email is not an address"),
        (2, "sendgrid: event is not a JSON object"),
        (3, "sendgrid: timestamp is not a Unix time"),
        (5, "sendgrid: email is not an address"),
        (6, "sendgrid: asm_group_id is too long"),
    ]


def test_an_item_timestamped_more_than_a_day_ahead_is_skipped(
    private_key: ec.EllipticCurvePrivateKey, config: SendgridVerifier
) -> None:
    ahead = int((NOW + dt.timedelta(days=2)).timestamp())
    body = body_of(event("delivered"), event("spamreport", timestamp=ahead))
    batch = handle_sendgrid(body, signed_headers(private_key, body), config=config, now=NOW)
    assert [e.type for e in batch.events] == [EventType.DELIVERED]
    assert [(i.index, i.message) for i in batch.skipped] == [
        (1, "sendgrid: timestamp is more than a day ahead of the server's clock")
    ]


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("spamreport", {}, (EventType.COMPLAINT, None)),
        ("unsubscribe", {}, (EventType.UNSUBSCRIBE, None)),
        ("group_unsubscribe", {"asm_group_id": 7}, (EventType.UNSUBSCRIBE, None)),
        ("delivered", {}, (EventType.DELIVERED, None)),
        ("bounce", {"type": "bounce"}, (EventType.BOUNCE, BounceKind.PERMANENT)),
        ("bounce", {"type": "blocked"}, (EventType.BOUNCE, BounceKind.TRANSIENT)),
        ("bounce", {}, (EventType.BOUNCE, BounceKind.UNDETERMINED)),
        ("dropped", {"reason": "Bounced Address"}, (EventType.BOUNCE, BounceKind.PERMANENT)),
    ],
)
def test_event_mapping(name: str, fields: dict[str, Any], expected: tuple[object, object]) -> None:
    (parsed,) = parse_sendgrid(body_of(event(name, **fields))).events
    assert (parsed.type, parsed.bounce_kind) == expected


@pytest.mark.parametrize(
    "name",
    [
        "processed",
        "open",
        "click",
        "group_resubscribe",
        "account_status_change",
        "new_thing",
        None,
    ],
)
def test_other_events_are_ignored(name: str | None) -> None:
    assert parse_sendgrid(body_of({"event": name, "email": None})).events == ()


@pytest.mark.parametrize(
    ("fields", "campaign"),
    [
        ({"campaign": "c-1", "category": "cat"}, "c-1"),
        ({"category": "cat"}, "cat"),
        ({"category": ["first", "second"]}, "first"),
        ({"category": []}, UNATTRIBUTED),
        ({"campaign": "x@example.com", "category": "cat"}, "cat"),
        ({}, UNATTRIBUTED),
    ],
)
def test_campaign_attribution(fields: dict[str, Any], campaign: str) -> None:
    (parsed,) = parse_sendgrid(body_of(event("delivered", **fields))).events
    assert parsed.campaign == campaign


def test_campaign_field_name_is_configurable() -> None:
    (parsed,) = parse_sendgrid(body_of(event("delivered", cmp="c-2")), campaign_field="cmp").events
    assert parsed.campaign == "c-2"


def test_verification_key_must_be_a_p256_public_key() -> None:
    rsa_der = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    p384_der = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for value in ("", "not base64!", base64.b64encode(b"junk").decode()):
        with pytest.raises(WebhookConfigError):
            load_verification_key(value)
    for der in (rsa_der, p384_der):
        with pytest.raises(WebhookConfigError):
            load_verification_key(base64.b64encode(der).decode())


def test_verification_key_accepts_pem(private_key: ec.EllipticCurvePrivateKey) -> None:
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_verification_key(pem.decode()).curve.name == "secp256r1"


def test_config_repr_hides_the_key(config: SendgridVerifier) -> None:
    assert "verification_key" not in repr(config)


def test_a_group_unsubscribe_carries_its_group_and_a_plain_one_none() -> None:
    (group,) = parse_sendgrid(body_of(event("group_unsubscribe", asm_group_id=7))).events
    (everything,) = parse_sendgrid(body_of(event("unsubscribe"))).events
    assert (group.scope, everything.scope) == ("group=7", None)
