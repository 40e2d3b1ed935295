"""Every webhook payload of ../shared/corpus/webhooks/, as stored and once authenticated.

Two columns per file: ``as_received`` is what verification says of the file exactly as
stored (none of them carries credentials we hold, except the SNS fixtures signed with the
bundled test certificate); ``events`` is what the payload yields once authenticated by
keys generated here (re-signed, or wrapped in a signed SNS envelope), as
``(type[/bounce kind], campaign)``. A corpus file missing from the table fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sns
from certs import rsa_signer
from corpus import corpus_params
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sns import CORPUS_CERT_NAME, CORPUS_TOPIC

from monitor.ingest.webhooks import (
    MailgunVerifier,
    PinnedCertificates,
    PostmarkVerifier,
    SendgridVerifier,
    SesVerifier,
    TokenCache,
    WebhookRefused,
    handle_mailgun,
    handle_postmark,
    handle_sendgrid,
    handle_ses,
)
from monitor.ingest.webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER
from monitor.model.events import UNATTRIBUTED, Event

ACCEPTED = "accepted"
U = UNATTRIBUTED


@dataclass(frozen=True)
class Expect:
    as_received: str  # ACCEPTED or a Reason code
    events: tuple[tuple[str, str], ...] = ()
    note: str = ""


EXPECTED: dict[str, Expect] = {
    # Mailgun (symfony fixtures): signed with a key we do not hold, in 2022.
    "mailgun/mailgun-complained__symfony__spam_complaints.json": Expect(
        "stale_timestamp", (("complaint", "my_tag_1"),), "no campaign user-variable: first tag"
    ),
    "mailgun/mailgun-delivered__symfony__delivered_messages.json": Expect(
        "stale_timestamp", (("delivered", "my_tag_1"),)
    ),
    "mailgun/mailgun-failed-permanent__symfony__permanent_failure.json": Expect(
        "stale_timestamp", (("bounce/permanent", "my_tag_1"),)
    ),
    "mailgun/mailgun-failed-temporary__symfony__temporary_failure.json": Expect(
        "stale_timestamp", (("bounce/transient", "my_tag_1"),)
    ),
    "mailgun/mailgun-opened__symfony__opens.json": Expect(
        "stale_timestamp", (), "ignored: opened is not counted"
    ),
    "mailgun/mailgun-unsubscribed__symfony__unsubscribes.json": Expect(
        "stale_timestamp", (("unsubscribe", "my_tag_1"),)
    ),
    # Postmark: no Authorization header in a file.
    "postmark/postmark-bounce__symfony__bounce.json": Expect(
        "missing_credentials",
        (("bounce/permanent", "Test"),),
        "HardBounce; Metadata lacks campaign",
    ),
    "postmark/postmark-delivery__symfony__delivery.json": Expect(
        "missing_credentials", (("delivered", "welcome-email"),)
    ),
    "postmark/postmark-spamcomplaint__symfony__spam_complaint.json": Expect(
        "missing_credentials", (("complaint", "Test"),)
    ),
    "postmark/postmark-subscriptionchange__symfony__subscription_change.json": Expect(
        "missing_credentials",
        (),
        "ignored: SuppressionReason HardBounce is counted by the Bounce record, not an unsubscribe",
    ),
    # SendGrid: the signature headers are not part of a stored body.
    "sendgrid/sendgrid-event-batch__symfony__batch.json": Expect(
        "unsigned", (("bounce/permanent", U),), "dropped counted, click ignored"
    ),
    "sendgrid/sendgrid-event-bounce-blocked__sisimai__json-sendgrid-12.json": Expect(
        "unsigned", (("bounce/transient", U),)
    ),
    "sendgrid/sendgrid-event-delivered__sisimai__json-sendgrid-13.json": Expect(
        "unsigned", (("delivered", U),)
    ),
    "sendgrid/sendgrid-event-dropped__symfony__webhook.json": Expect(
        "unsigned", (("bounce/permanent", U),)
    ),
    "sendgrid/sendgrid-event-spamreport__sisimai__json-sendgrid-15.json": Expect(
        "unsigned", (("complaint", U),)
    ),
    "sendgrid/sendgrid-event-spamreport__sisimai__json-sendgrid-17.json": Expect(
        "unsigned", (("complaint", U),)
    ),
    # SES: raw notifications (raw message delivery: no SNS signature) and SNS envelopes
    # signed by AWS's real certificate, which is not pinned here.
    "ses/ses-bounce-raw__sisimai__json-amazonses-01.json": Expect(
        "unsigned", (("bounce/permanent", U),)
    ),
    "ses/ses-complaint-raw__sisimai__json-amazonses-03.json": Expect(
        "unsigned", (("complaint", U),)
    ),
    "ses/sns-email-ses-bounce__sisimai__lhost-amazonses-10.eml": Expect(
        "unknown_certificate", (("bounce/permanent", U),), "SNS e-mail subscription: JSON body"
    ),
    "ses/sns-email-ses-complaint__sisimai__lhost-amazonses-11.eml": Expect(
        "unsigned", (("complaint", U),), "SNS e-mail subscription, raw message"
    ),
    "ses/sns-email-ses-delivery__sisimai__lhost-amazonses-12.eml": Expect(
        "unsigned", (("delivered", U),), "SNS e-mail subscription, raw message"
    ),
    "ses/sns-envelope-ses-bounce__sisimai__json-amazonses-02.json": Expect(
        "unknown_certificate", (("bounce/permanent", U),)
    ),
    # SNS fixtures signed with the bundled test certificate (pinned for these tests).
    "sns/ses-inbound-received__action-mailbox-amazon-ingress__inbound_email.json": Expect(
        ACCEPTED, (), "ignored: notificationType Received (inbound mail, not a sending event)"
    ),
    "sns/sns-subscription-confirmation-valid-signature__action-mailbox-amazon-ingress__valid_signature.json": Expect(  # noqa: E501 - the corpus file name
        ACCEPTED, (), "SubscriptionConfirmation: SubscribeURL checked and returned"
    ),
    "sns/sns-subscription-confirmation__action-mailbox-amazon-ingress__recognized_topic_subscription_request.json": Expect(  # noqa: E501 - the corpus file name
        "foreign_topic", (), "recognized-topic is not in topic_arns; allowed, it is confirmed"
    ),
    "sns/test-signing-certificate__action-mailbox-amazon-ingress__certificate.pem": Expect(
        "certificate", (), "not a payload: the test certificate pinned for the SNS fixtures"
    ),
}

OUR_CERT_NAME = "SimpleNotificationService-generated-for-tests.pem"


@dataclass(frozen=True)
class Keys:
    rsa: rsa.RSAPrivateKey
    certificates: PinnedCertificates
    ecdsa: ec.EllipticCurvePrivateKey
    sendgrid: SendgridVerifier
    mailgun: MailgunVerifier
    postmark: PostmarkVerifier


@pytest.fixture(scope="module")
def keys(corpus_dir: Path) -> Keys:
    key, cert_pem = rsa_signer()
    (test_pem,) = (corpus_dir / "webhooks" / "sns").glob("test-signing-certificate*.pem")
    certificates = PinnedCertificates.from_pem(
        {
            CORPUS_CERT_NAME: test_pem.read_bytes(),
            OUR_CERT_NAME: cert_pem,
        }
    )
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    return Keys(
        rsa=key,
        certificates=certificates,
        ecdsa=ecdsa,
        sendgrid=SendgridVerifier(verification_key=ecdsa.public_key()),
        mailgun=MailgunVerifier(signing_key=secrets.token_hex(16)),
        postmark=PostmarkVerifier(username="pm", password=secrets.token_urlsafe(12)),
    )


def ses_config(keys: Keys, *extra_topics: str) -> SesVerifier:
    return SesVerifier(
        topic_arns=frozenset({CORPUS_TOPIC, *extra_topics}), certificates=keys.certificates
    )


def payload_bytes(path: Path) -> bytes:
    """The webhook body: the file, or for an SNS e-mail subscription the JSON in its body."""
    if path.suffix != ".eml":
        return path.read_bytes()
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = message.get_content()  # type: ignore[attr-defined]  # EmailMessage under policy.default
    # sendmail folded the over-long JSON lines in transit ("!" newline space at 990 columns).
    value, _ = json.JSONDecoder().raw_decode(text.replace("!\n ", "").strip())
    return json.dumps(value).encode()


def authenticated(path: Path, keys: Keys) -> tuple[tuple[Event, ...], str | None]:
    """The events of a corpus payload once it carries credentials we hold."""
    provider = path.parent.name
    body = payload_bytes(path)
    now = dt.datetime.now(dt.UTC)
    if provider == "sendgrid":
        stamp = str(int(now.timestamp()))
        signature = keys.ecdsa.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}
        batch = handle_sendgrid(body, headers, config=keys.sendgrid, now=now)
        assert batch.skipped == ()  # every item of a real payload is read
        return batch.events, None
    if provider == "mailgun":
        data = json.loads(body)
        stamp, token = str(int(now.timestamp())), secrets.token_hex(25)
        digest = hmac.new(
            keys.mailgun.signing_key.encode(), (stamp + token).encode(), hashlib.sha256
        ).hexdigest()
        data["signature"] = {"timestamp": stamp, "token": token, "signature": digest}
        resigned = json.dumps(data).encode()
        return handle_mailgun(
            resigned, config=keys.mailgun, replay_cache=TokenCache(), now=now
        ), None
    if provider == "postmark":
        header = "Basic " + base64.b64encode(f"pm:{keys.postmark.password}".encode()).decode()
        return handle_postmark(body, authorization=header, config=keys.postmark), None
    message: dict[str, Any] = json.loads(body)
    topics: tuple[str, ...] = ()
    if message.get("SigningCertURL", "").endswith(CORPUS_CERT_NAME):
        topics = (message["TopicArn"],)  # signed with the test certificate: verify as is
    else:
        if "Type" not in message:  # a raw SES notification: wrap it in an SNS envelope
            message = {
                "Type": "Notification",
                "MessageId": "generated-envelope",
                "TopicArn": CORPUS_TOPIC,
                "Message": json.dumps(message),
                "Timestamp": now.isoformat(),
            }
        region = message["TopicArn"].split(":")[3]
        topics = (message["TopicArn"],)
        cert_url = f"https://sns.{region}.amazonaws.com/{OUR_CERT_NAME}"
        message = sns.sign(message, keys.rsa, version="1", cert_url=cert_url)
    outcome = handle_ses(json.dumps(message).encode(), config=ses_config(keys, *topics))
    return outcome.events, outcome.confirm_url


def as_received(path: Path, keys: Keys) -> WebhookRefused | None:
    provider = path.parent.name
    body = payload_bytes(path)
    try:
        if provider == "sendgrid":
            handle_sendgrid(body, {}, config=keys.sendgrid)
        elif provider == "mailgun":
            handle_mailgun(body, config=keys.mailgun, replay_cache=TokenCache())
        elif provider == "postmark":
            handle_postmark(body, authorization=None, config=keys.postmark)
        else:
            handle_ses(body, config=ses_config(keys))
    except WebhookRefused as refusal:
        return refusal
    return None


def summary(event: Event) -> tuple[str, str]:
    kind = event.type.value if event.bounce_kind is None else f"bounce/{event.bounce_kind.value}"
    return kind, event.campaign


@pytest.mark.parametrize("path", corpus_params("webhooks/*/*"))
def test_corpus_payload(corpus_dir: Path, keys: Keys, path: Path) -> None:
    name = path.relative_to(corpus_dir / "webhooks").as_posix()
    assert name in EXPECTED, f"{name} is not in the expectation table"
    expected = EXPECTED[name]
    if expected.as_received == "certificate":
        assert len(PinnedCertificates.from_files([path])) == 1
        return
    refusal = as_received(path, keys)
    assert (ACCEPTED if refusal is None else refusal.reason.value) == expected.as_received
    assert "@" not in f"{refusal} {refusal!r}"
    events, confirm_url = authenticated(path, keys)
    assert tuple(summary(e) for e in events) == expected.events
    for event in events:
        assert event.recipient is not None
        assert event.recipient not in repr(event)
        assert event.idempotency_key is not None
        assert "@" not in event.idempotency_key
        assert event.occurred_at.tzinfo is not None
    is_confirmation = b'"SubscriptionConfirmation"' in path.read_bytes()
    assert (confirm_url is not None) == is_confirmation


def test_table_names_only_existing_files(corpus_dir: Path) -> None:
    present = {
        p.relative_to(corpus_dir / "webhooks").as_posix() for p in corpus_dir.glob("webhooks/*/*")
    }
    assert set(EXPECTED) == present
