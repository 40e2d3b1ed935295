"""POST /api/v1/webhooks/{ses,sendgrid,mailgun,postmark} on a real server on 127.0.0.1.

Payloads are signed for real with keys generated at test time (an RSA key and
self-signed certificate pinned as the SNS signing certificate, an ECDSA P-256 key for
SendGrid, an HMAC key for Mailgun); accepted events are read back from a real SQLite
store, and every refusal leaves every table empty.

The real SNS host cannot be reached from tests, so the one stand-in is for that network
hop: the checked SubscribeURL is fetched, by the production GET (no redirects, a
timeout), from a local aiohttp server on 127.0.0.1 instead of sns.<region>.amazonaws.com.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sns
from aiohttp import ClientSession, web
from certs import rsa_signer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from daemon import offline_config
from httpapp import api_app
from httpserve import ServeHttp, post_for_json
from outbound import loopback_policy
from sns import CERT_NAME, CERT_URL, CORPUS_CERT_NAME, CORPUS_TOPIC, REGION, SNS_HOST, TOPIC
from sns import TOKEN as SNS_TOKEN
from sns import notification as sns_notification
from sns import subscription as sns_subscription
from sqlitefile import row_counts

from monitor.config import (
    Config,
    HttpConfig,
    MailgunWebhookConfig,
    PostmarkWebhookConfig,
    SendgridWebhookConfig,
    SesWebhookConfig,
    WebhooksConfig,
    parse_config,
)
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.http import context
from monitor.http.context import confirm_subscription
from monitor.model.errors import ConfigError
from monitor.model.privacy import Pseudonymizer
from monitor.store.store import SqlStore

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
TABLES = ("feedback_reports", "events", "event_keys", "counters", "suppressions")
EMPTY = dict.fromkeys(TABLES, 0)


MAILGUN_KEY = secrets.token_hex(16)
MAILGUN_KEY_ENV = "DELIVERMON_TEST_MAILGUN_SIGNING_KEY"
POSTMARK_USER = "postmark"
POSTMARK_PASSWORD = secrets.token_urlsafe(16)
ADDRESSES = ("bounced@gmail.com", "other@yahoo.co.uk", "someone@outlook.com")


def table_counts(db: Path) -> dict[str, int]:
    return row_counts(db, TABLES)


# --- keys made at test time ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sns_signer() -> tuple[rsa.RSAPrivateKey, bytes]:
    # The same stand-in for SNS's signing certificate as the unit tests use.
    return rsa_signer()


@pytest.fixture(scope="module")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sns_sign(
    message: dict[str, Any],
    key: rsa.RSAPrivateKey,
    *,
    version: str = "2",
    cert_url: str = CERT_URL,
) -> bytes:
    """The SNS POST body: the message with its string-to-sign signed (v1 SHA1, v2 SHA256)."""
    return json.dumps(sns.sign(message, key, version=version, cert_url=cert_url)).encode()


def ses_bounce(*recipients: str, feedback_id: str = "0100-feedback-1") -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": r, "status": "5.1.1"} for r in recipients],
            "timestamp": "2026-11-20T10:00:00.000Z",
            "feedbackId": feedback_id,
        },
        "mail": {
            "timestamp": "2026-11-20T09:59:58.000Z",
            "messageId": "0100-mail-1",
            "headers": [{"name": "X-Campaign-ID", "value": "spring-sale"}],
        },
    }


def ses_complaint(**fields: Any) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": ADDRESSES[2]}],
            "timestamp": "2026-11-20T11:00:00.000Z",
            "feedbackId": "0100-feedback-2",
            "complaintFeedbackType": "abuse",
            **fields,
        },
        "mail": {"timestamp": "2026-11-20T09:59:58.000Z", "messageId": "0100-mail-2"},
    }


def sendgrid_event(name: str, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": int(NOW.timestamp()) - 60,
        "event": name,
        "sg_event_id": f"sg-{name}-{email}",
        "campaign": "spring-sale",
        **fields,
    }


def sendgrid_headers(
    key: ec.EllipticCurvePrivateKey, body: bytes, when: dt.datetime = NOW
) -> dict[str, str]:
    stamp = str(int(when.timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def mailgun_body(
    *,
    key: str = MAILGUN_KEY,
    when: dt.datetime = NOW,
    token: str | None = None,
    event_id: str = "mg-evt-1",
    event: str = "complained",
) -> bytes:
    stamp = str(int(when.timestamp()))
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": digest},
            "event-data": {
                "id": event_id,
                "timestamp": NOW.timestamp() - 60,
                "event": event,
                "recipient": ADDRESSES[2],
                "user-variables": {"campaign": "spring-sale"},
            },
        }
    ).encode()


def postmark_complaint(**fields: Any) -> bytes:
    record = {
        "RecordType": "SpamComplaint",
        "ID": 4323372036854775807,
        "Type": "SpamComplaint",
        "TypeCode": 100001,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": ADDRESSES[0],
        "BouncedAt": "2026-11-20T10:00:00.1234567Z",
        "Metadata": {"campaign": "spring-sale"},
        **fields,
    }
    return json.dumps(record).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- the SNS stand-in ---------------------------------------------------------------------


@dataclass
class SnsStandIn:
    """A local HTTP server answering confirmation GETs; records every request it gets."""

    url: str = ""
    status: int = 200
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status in (301, 302, 307):
            raise web.HTTPFound("/followed-redirect")
        return web.Response(status=self.status, text="<ConfirmSubscriptionResponse/>")


@pytest.fixture
async def standin(serve_http: ServeHttp) -> SnsStandIn:
    stand_in = SnsStandIn()
    app = web.Application()
    app.router.add_get("/{tail:.*}", stand_in.handle)
    stand_in.url = await serve_http(app)
    return stand_in


# --- the app under test -------------------------------------------------------------------


@pytest.fixture
def webhooks(
    tmp_path: Path,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
    sendgrid_key: ec.EllipticCurvePrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> WebhooksConfig:
    """All four providers configured, as an operator would: files, base64 key, env secret."""
    cert = tmp_path / CERT_NAME
    cert.write_bytes(sns_signer[1])
    der = sendgrid_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    monkeypatch.setenv(MAILGUN_KEY_ENV, MAILGUN_KEY)
    return WebhooksConfig(
        ses=SesWebhookConfig(topic_arns=[TOPIC], certificate_files=[str(cert)]),
        sendgrid=SendgridWebhookConfig(verification_key=base64.b64encode(der).decode()),
        mailgun=MailgunWebhookConfig(signing_key=f"env:{MAILGUN_KEY_ENV}"),
        postmark=PostmarkWebhookConfig(username=POSTMARK_USER, password=POSTMARK_PASSWORD),
    )


class StartServer(Protocol):
    def __call__(
        self, webhooks: WebhooksConfig, *, max_body_bytes: int = ...
    ) -> Awaitable[str]: ...


@pytest.fixture
def start_server(sqlite_store: SqlStore, standin: SnsStandIn, serve_http: ServeHttp) -> StartServer:
    async def confirm_at_standin(url: str) -> int:
        # sns.<region>.amazonaws.com is unreachable from tests: same path and query, local host.
        parts = urlsplit(url)
        assert parts.scheme == "https"
        assert parts.netloc.startswith("sns.")
        assert parts.netloc.endswith(".amazonaws.com")
        port = urlsplit(standin.url).port
        policy = loopback_policy({"sns-standin.test": "127.0.0.1"})
        return await confirm_subscription(
            f"http://sns-standin.test:{port}{parts.path or '/'}?{parts.query}", policy=policy
        )

    async def start(webhooks: WebhooksConfig, *, max_body_bytes: int = 10 * 1024 * 1024) -> str:
        app = await api_app(
            Config(webhooks=webhooks, http=HttpConfig(max_body_bytes=max_body_bytes)),
            sqlite_store,
            Pseudonymizer(b"k" * 32),
            clock=lambda: NOW,
            confirm=confirm_at_standin,
        )
        return await serve_http(app)

    return start


@pytest.fixture
async def base_url(start_server: StartServer, webhooks: WebhooksConfig) -> str:
    return await start_server(webhooks)


async def post(
    base_url: str, provider: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    return await post_for_json(f"{base_url}/api/v1/webhooks/{provider}", body, headers=headers)


async def totals(store: SqlStore, campaign: str = "spring-sale") -> dict[str, int]:
    rows = await store.counts(campaign=campaign)
    return {
        "delivered": sum(r.totals.delivered for r in rows),
        "bounces_permanent": sum(r.totals.bounces_permanent for r in rows),
        "complaints": sum(r.totals.complaints for r in rows),
        "unsubscribes": sum(r.totals.unsubscribes for r in rows),
    }


def refusal(status: int, reason: str) -> tuple[int, str]:
    return status, reason


# --- not configured -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["ses", "sendgrid", "mailgun", "postmark"])
async def test_provider_without_a_section_answers_404(
    start_server: StartServer, provider: str, sqlite_path: Path
) -> None:
    base_url = await start_server(WebhooksConfig())
    status, body = await post(base_url, provider, b"{}")
    assert (status, body) == (404, {"error": "webhook not configured"})
    assert table_counts(sqlite_path) == EMPTY


@pytest.mark.parametrize(
    ("hooks", "problem"),
    [
        pytest.param(
            WebhooksConfig(sendgrid=SendgridWebhookConfig(verification_key="bm90IGEga2V5")),
            "webhooks.sendgrid.verification_key",
            id="sendgrid-bad-key",
        ),
        pytest.param(
            WebhooksConfig(mailgun=MailgunWebhookConfig(signing_key="env:DELIVERMON_TEST_UNSET")),
            "webhooks.mailgun.signing_key",
            id="mailgun-unset-env",
        ),
        pytest.param(
            WebhooksConfig(postmark=PostmarkWebhookConfig(username="u")),
            "webhooks.postmark.password",
            id="postmark-no-password",
        ),
        pytest.param(
            WebhooksConfig(ses=SesWebhookConfig(certificate_files=["/nonexistent/cert.pem"])),
            "webhooks.ses.certificate_files",
            id="ses-missing-cert-file",
        ),
    ],
)
async def test_unusable_webhook_settings_fail_at_build_time(
    hooks: WebhooksConfig, problem: str, sqlite_store: SqlStore
) -> None:
    with pytest.raises(ConfigError) as caught:
        await api_app(
            Config(webhooks=hooks), sqlite_store, Pseudonymizer(b"k" * 32), clock=lambda: NOW
        )
    assert [p.split(":")[0] for p in caught.value.problems] == [problem]


# --- SES via SNS --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_notification_is_verified_committed_and_counted_once(
    base_url: str,
    sqlite_store: SqlStore,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
    version: str,
) -> None:
    body = sns_sign(
        sns_notification(ses_bounce(ADDRESSES[0], ADDRESSES[1])), sns_signer[0], version=version
    )
    assert await post(base_url, "ses", body) == (202, {"accepted": 2, "duplicates": 0})
    assert (await totals(sqlite_store))["bounces_permanent"] == 2
    # SNS retries deliver the same notification again: recognised, counted once.
    assert await post(base_url, "ses", body) == (202, {"accepted": 0, "duplicates": 2})
    assert (await totals(sqlite_store))["bounces_permanent"] == 2


async def test_ses_suppression_list_complaint_is_acknowledged_but_not_counted(
    base_url: str,
    sqlite_store: SqlStore,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
    sqlite_path: Path,
) -> None:
    message = sns_notification(ses_complaint(complaintSubType="OnAccountSuppressionList"))
    status, body = await post(base_url, "ses", sns_sign(message, sns_signer[0]))
    assert (status, body) == (202, {"accepted": 0, "duplicates": 0})
    assert table_counts(sqlite_path) == EMPTY


async def test_an_ses_list_unsubscribe_is_an_unsubscribe_with_its_list_and_topic(
    base_url: str, sqlite_store: SqlStore, sns_signer: tuple[rsa.RSAPrivateKey, bytes]
) -> None:
    # SES list management: the recipient used the unsubscribe header of a mail sent to
    # the "Newsletter" contact list and opted out of its "Deals" topic.
    change = {
        "eventType": "Subscription",
        "mail": {
            "timestamp": "2026-11-20T09:59:58.000Z",
            "messageId": "0100-mail-3",
            "destination": [ADDRESSES[0]],
            "headers": [{"name": "X-Campaign-ID", "value": "spring-sale"}],
        },
        "subscription": {
            "contactList": "Newsletter",
            "timestamp": "2026-11-20T12:00:00.000Z",
            "source": "UnsubscribeHeader",
            "newTopicPreferences": {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [{"topicName": "Deals", "subscriptionStatus": "OptOut"}],
            },
            "oldTopicPreferences": {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [{"topicName": "Deals", "subscriptionStatus": "OptIn"}],
            },
        },
    }
    body = sns_sign(sns_notification(change), sns_signer[0])
    assert await post(base_url, "ses", body) == (202, {"accepted": 1, "duplicates": 0})
    assert (await totals(sqlite_store))["unsubscribes"] == 1
    export = await sqlite_store.export_subject(Pseudonymizer(b"k" * 32).pseudonym(ADDRESSES[0]))
    assert [(e.type, e.scope) for e in export.events] == [
        ("unsubscribe", "list=Newsletter topics=Deals")
    ]
    assert export.suppressed
    assert await post(base_url, "ses", body) == (202, {"accepted": 0, "duplicates": 1})


def _tampered(body: bytes) -> bytes:
    data = json.loads(body)
    data["Message"] = data["Message"].replace("Permanent", "Transient")
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("make_body", "expected"),
    [
        pytest.param(
            lambda key, other: _tampered(sns_sign(sns_notification(ses_bounce(ADDRESSES[0])), key)),
            refusal(403, "bad_signature"),
            id="tampered-body",
        ),
        pytest.param(
            lambda key, other: sns_sign(sns_notification(ses_bounce(ADDRESSES[0])), other),
            refusal(403, "bad_signature"),
            id="wrong-key",
        ),
        pytest.param(
            lambda key, other: sns_sign(
                sns_notification(
                    ses_bounce(ADDRESSES[0]),
                    TopicArn=f"arn:aws:sns:{REGION}:999999999999:someone-else",
                ),
                key,
            ),
            refusal(403, "foreign_topic"),
            id="foreign-topic",
        ),
        pytest.param(
            lambda key, other: sns_sign(
                sns_notification(ses_bounce(ADDRESSES[0])),
                key,
                cert_url=f"https://{SNS_HOST}.attacker.example/{CERT_NAME}",
            ),
            refusal(403, "untrusted_cert_url"),
            id="non-aws-cert-url",
        ),
        pytest.param(
            lambda key, other: sns_sign(
                sns_notification(ses_bounce(ADDRESSES[0])),
                key,
                cert_url=f"https://{SNS_HOST}/SimpleNotificationService-unpinned.pem",
            ),
            refusal(403, "unknown_certificate"),
            id="unpinned-cert",
        ),
        pytest.param(
            lambda key, other: json.dumps(sns_notification(ses_bounce(ADDRESSES[0]))).encode(),
            refusal(403, "unsigned"),
            id="unsigned",
        ),
        pytest.param(lambda key, other: b"{not json", refusal(400, "malformed"), id="not-json"),
    ],
)
async def test_ses_refusals_store_nothing(
    base_url: str,
    sqlite_path: Path,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
    make_body: Callable[[rsa.RSAPrivateKey, rsa.RSAPrivateKey], bytes],
    expected: tuple[int, str],
    standin: SnsStandIn,
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, body = await post(base_url, "ses", make_body(sns_signer[0], other))
    assert (status, body["reason"]) == expected
    assert isinstance(body["error"], str)
    assert table_counts(sqlite_path) == EMPTY
    assert standin.requests == []


async def test_ses_subscription_is_confirmed_after_verification(
    base_url: str,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
    standin: SnsStandIn,
    sqlite_path: Path,
) -> None:
    status, body = await post(base_url, "ses", sns_sign(sns_subscription(), sns_signer[0]))
    assert (status, body) == (202, {"confirmed": True})
    (request,) = standin.requests
    query = parse_qs(urlsplit(request).query)
    assert query == {"Action": ["ConfirmSubscription"], "TopicArn": [TOPIC], "Token": [SNS_TOKEN]}
    assert table_counts(sqlite_path) == EMPTY


@pytest.mark.parametrize(
    "subscribe_url",
    [
        pytest.param(
            f"https://attacker.example/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t",
            id="other-host",
        ),
        pytest.param("STANDIN", id="the-local-server-itself"),
        pytest.param(
            f"https://{SNS_HOST}/?Action=Unsubscribe&TopicArn={TOPIC}&Token=t", id="other-action"
        ),
        pytest.param(
            f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
            f"&TopicArn={TOPIC}&Token=t",
            id="other-region",
        ),
    ],
)
async def test_unsafe_subscribe_url_is_refused_and_never_fetched(
    base_url: str,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
    standin: SnsStandIn,
    subscribe_url: str,
) -> None:
    if subscribe_url == "STANDIN":
        subscribe_url = f"{standin.url}/?Action=ConfirmSubscription&TopicArn={quote(TOPIC)}&Token=t"
    message = sns_subscription(SubscribeURL=subscribe_url)
    status, body = await post(base_url, "ses", sns_sign(message, sns_signer[0]))
    assert (status, body["reason"]) == (403, "untrusted_subscribe_url")
    assert standin.requests == []


async def test_confirmation_redirect_is_not_followed(
    base_url: str, sns_signer: tuple[rsa.RSAPrivateKey, bytes], standin: SnsStandIn
) -> None:
    standin.status = 302
    status, body = await post(base_url, "ses", sns_sign(sns_subscription(), sns_signer[0]))
    assert (status, body["upstream_status"]) == (502, 302)
    assert len(standin.requests) == 1
    assert "/followed-redirect" not in standin.requests


async def test_confirmation_error_status_is_502(
    base_url: str, sns_signer: tuple[rsa.RSAPrivateKey, bytes], standin: SnsStandIn
) -> None:
    standin.status = 500
    status, body = await post(base_url, "ses", sns_sign(sns_subscription(), sns_signer[0]))
    assert (status, body["upstream_status"]) == (502, 500)


async def test_confirmation_timeout_is_502(
    base_url: str,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
    standin: SnsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(context, "CONFIRM_TIMEOUT_SECONDS", 0.1)  # 5 s in production
    standin.delay = 1.0
    status, body = await post(base_url, "ses", sns_sign(sns_subscription(), sns_signer[0]))
    assert status == 502
    assert "upstream_status" not in body
    assert len(standin.requests) == 1


async def test_corpus_signed_confirmation_is_confirmed_with_its_pinned_certificate(
    corpus_dir: Path, start_server: StartServer, standin: SnsStandIn, tmp_path: Path
) -> None:
    sns = corpus_dir / "webhooks" / "sns"
    (pem,) = sns.glob("test-signing-certificate*.pem")
    (message,) = sns.glob("sns-subscription-confirmation-valid-signature*.json")
    pinned = tmp_path / CORPUS_CERT_NAME  # named as its SigningCertURL names it
    pinned.write_bytes(pem.read_bytes())
    base_url = await start_server(
        WebhooksConfig(
            ses=SesWebhookConfig(topic_arns=[CORPUS_TOPIC], certificate_files=[str(pinned)])
        )
    )
    assert await post(base_url, "ses", message.read_bytes()) == (202, {"confirmed": True})
    (request,) = standin.requests
    assert parse_qs(urlsplit(request).query)["TopicArn"] == [CORPUS_TOPIC]


# --- SendGrid -----------------------------------------------------------------------------


async def test_sendgrid_batch_is_verified_committed_and_counted_once(
    base_url: str, sqlite_store: SqlStore, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    body = json.dumps(
        [
            sendgrid_event("spamreport", ADDRESSES[0]),
            sendgrid_event("delivered", ADDRESSES[1]),
            sendgrid_event("bounce", ADDRESSES[2], type="bounce"),
            sendgrid_event("unsubscribe", ADDRESSES[1]),
            sendgrid_event("processed", ADDRESSES[0]),  # not counted
        ]
    ).encode()
    headers = sendgrid_headers(sendgrid_key, body)
    assert await post(base_url, "sendgrid", body, headers) == (
        202,
        {"accepted": 4, "duplicates": 0},
    )
    expected = {"delivered": 1, "bounces_permanent": 1, "complaints": 1, "unsubscribes": 1}
    assert await totals(sqlite_store) == expected
    assert await post(base_url, "sendgrid", body, headers) == (
        202,
        {"accepted": 0, "duplicates": 4},
    )
    assert await totals(sqlite_store) == expected


async def test_a_sendgrid_batch_skips_an_unreadable_item_stores_the_rest_and_counts_it(
    tmp_path: Path, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    """SendGrid re-posts a refused batch until it gives up: refusing the batch for one
    item it cannot read would lose every good event in it. Through the daemon, so the
    metric is the one a scrape reads."""
    der = sendgrid_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    extra = f'[webhooks.sendgrid]\nverification_key = "{base64.b64encode(der).decode()}"\n'
    text = offline_config(f"sqlite:///{tmp_path / 'd.db'}", extra=extra)
    daemon = Daemon(parse_config(text), DaemonOptions(listen="127.0.0.1:0"), clock=lambda: NOW)
    await daemon.start()
    try:
        base = f"http://127.0.0.1:{daemon.listen_port}"
        body = json.dumps(
            [
                sendgrid_event("delivered", ADDRESSES[0]),
                sendgrid_event("dropped", "", reason="Invalid"),  # as SendGrid sends it
                sendgrid_event("spamreport", ADDRESSES[1]),
                sendgrid_event("delivered", "a@b@example.com"),  # no address to pseudonymise
            ]
        ).encode()
        status, answer = await post(base, "sendgrid", body, sendgrid_headers(sendgrid_key, body))
        assert (status, answer) == (
            202,
            {
                "accepted": 2,
                "duplicates": 0,
                "skipped": [
                    {"index": 1, "error": "sendgrid: email is not an address"},
                    {"index": 3, "error": "sendgrid: email is not an address"},
                ],
            },
        )
        assert await totals(daemon.store) == {
            "delivered": 1,
            "bounces_permanent": 0,
            "complaints": 1,
            "unsubscribes": 0,
        }
        async with ClientSession() as session, session.get(f"{base}/metrics") as response:
            scraped = await response.text()
        assert 'delivermon_ingest_skipped_items_total{source="sendgrid"} 2.0' in scraped
        assert 'delivermon_ingest_accepted_total{source="sendgrid"} 1.0' in scraped
    finally:
        await daemon.stop()


def _sendgrid_body() -> bytes:
    return json.dumps([sendgrid_event("spamreport", ADDRESSES[0])]).encode()


@pytest.mark.parametrize(
    ("make_request", "expected"),
    [
        pytest.param(
            lambda key, other: (
                _sendgrid_body().replace(b"spamreport", b"delivered"),
                sendgrid_headers(key, _sendgrid_body()),
            ),
            refusal(403, "bad_signature"),
            id="tampered-body",
        ),
        pytest.param(
            lambda key, other: (_sendgrid_body(), sendgrid_headers(other, _sendgrid_body())),
            refusal(403, "bad_signature"),
            id="wrong-key",
        ),
        pytest.param(
            lambda key, other: (
                _sendgrid_body(),
                sendgrid_headers(key, _sendgrid_body(), NOW - dt.timedelta(hours=1)),
            ),
            refusal(403, "stale_timestamp"),
            id="stale-timestamp",
        ),
        pytest.param(
            lambda key, other: (_sendgrid_body(), {"Content-Type": "application/json"}),
            refusal(403, "unsigned"),
            id="unsigned",
        ),
        pytest.param(
            lambda key, other: (b'{"not": "a list"}', sendgrid_headers(key, b'{"not": "a list"}')),
            refusal(400, "malformed"),
            id="signed-but-malformed",
        ),
    ],
)
async def test_sendgrid_refusals_store_nothing(
    base_url: str,
    sqlite_path: Path,
    sendgrid_key: ec.EllipticCurvePrivateKey,
    make_request: Callable[
        [ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey], tuple[bytes, dict[str, str]]
    ],
    expected: tuple[int, str],
) -> None:
    body, headers = make_request(sendgrid_key, ec.generate_private_key(ec.SECP256R1()))
    status, answer = await post(base_url, "sendgrid", body, headers)
    assert (status, answer["reason"]) == expected
    assert table_counts(sqlite_path) == EMPTY


# --- Mailgun ------------------------------------------------------------------------------


async def test_mailgun_event_is_verified_committed_and_counted_once(
    base_url: str, sqlite_store: SqlStore
) -> None:
    assert await post(base_url, "mailgun", mailgun_body()) == (
        202,
        {"accepted": 1, "duplicates": 0},
    )
    # Mailgun re-sends the same event (same id) with a fresh token: counted once.
    assert await post(base_url, "mailgun", mailgun_body()) == (
        202,
        {"accepted": 0, "duplicates": 1},
    )
    assert (await totals(sqlite_store))["complaints"] == 1


async def test_mailgun_replayed_token_is_refused(base_url: str, sqlite_store: SqlStore) -> None:
    token = secrets.token_hex(25)
    first = mailgun_body(token=token, event_id="mg-1")
    assert (await post(base_url, "mailgun", first))[0] == 202
    # The HMAC covers only timestamp + token: the same signature on another event is a replay.
    replay = mailgun_body(token=token, event_id="mg-2", event="unsubscribed")
    status, body = await post(base_url, "mailgun", replay)
    assert (status, body["reason"]) == (403, "replayed")
    assert await totals(sqlite_store) == {
        "delivered": 0,
        "bounces_permanent": 0,
        "complaints": 1,
        "unsubscribes": 0,
    }


@pytest.mark.parametrize("first_event", ["complained", "opened"])
async def test_a_mailgun_token_is_used_once_across_replicas_and_restarts(
    start_server: StartServer, webhooks: WebhooksConfig, sqlite_store: SqlStore, first_event: str
) -> None:
    """Mailgun signs only timestamp + token: a captured request's signature carries any
    event for ten minutes. A second replica (or the process after a restart: a new app,
    its memory empty) accepted a forged event under a used token and suppressed its
    recipient (an outside review). The token is claimed in the store, with the events, so
    every replica and every restart sees it; an event type delivermon ignores claims it
    too."""
    first_replica = await start_server(webhooks)
    second_replica = await start_server(webhooks)
    token = secrets.token_hex(25)
    status, _ = await post(
        first_replica, "mailgun", mailgun_body(token=token, event_id="mg-1", event=first_event)
    )
    assert status == 202
    forged = mailgun_body(token=token, event_id="mg-forged", event="unsubscribed")
    status, body = await post(second_replica, "mailgun", forged)
    assert (status, body["reason"]) == (403, "replayed")
    assert (await totals(sqlite_store))["unsubscribes"] == 0
    # A fresh token on the second replica is accepted as before.
    fresh = mailgun_body(event_id="mg-2", event="unsubscribed")
    assert (await post(second_replica, "mailgun", fresh))[0] == 202
    assert (await totals(sqlite_store))["unsubscribes"] == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            mailgun_body(key=secrets.token_hex(16)), refusal(403, "bad_signature"), id="wrong-key"
        ),
        pytest.param(
            mailgun_body(when=NOW - dt.timedelta(hours=1)),
            refusal(403, "stale_timestamp"),
            id="stale-timestamp",
        ),
        pytest.param(
            json.dumps({"event-data": {"event": "complained"}}).encode(),
            refusal(403, "unsigned"),
            id="unsigned",
        ),
        pytest.param(b"[]", refusal(400, "malformed"), id="not-an-object"),
    ],
)
async def test_mailgun_refusals_store_nothing(
    base_url: str, sqlite_path: Path, body: bytes, expected: tuple[int, str]
) -> None:
    status, answer = await post(base_url, "mailgun", body)
    assert (status, answer["reason"]) == expected
    assert table_counts(sqlite_path) == EMPTY


# --- Postmark -----------------------------------------------------------------------------


async def test_postmark_record_is_committed_and_counted_once(
    base_url: str, sqlite_store: SqlStore
) -> None:
    headers = {"Authorization": basic(POSTMARK_USER, POSTMARK_PASSWORD)}
    body = postmark_complaint()
    assert await post(base_url, "postmark", body, headers) == (
        202,
        {"accepted": 1, "duplicates": 0},
    )
    assert await post(base_url, "postmark", body, headers) == (
        202,
        {"accepted": 0, "duplicates": 1},
    )
    assert (await totals(sqlite_store))["complaints"] == 1


async def test_postmark_missing_credentials_is_401_with_challenge(
    base_url: str, sqlite_path: Path
) -> None:
    async with (
        ClientSession() as session,
        session.post(f"{base_url}/api/v1/webhooks/postmark", data=postmark_complaint()) as resp,
    ):
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")
        assert (await resp.json())["reason"] == "missing_credentials"
    assert table_counts(sqlite_path) == EMPTY


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        pytest.param(
            basic(POSTMARK_USER, "wrong"), refusal(403, "wrong_credentials"), id="wrong-password"
        ),
        pytest.param(
            basic("intruder", POSTMARK_PASSWORD), refusal(403, "wrong_credentials"), id="wrong-user"
        ),
        pytest.param("Bearer x", refusal(401, "missing_credentials"), id="not-basic"),
    ],
)
async def test_postmark_wrong_credentials_store_nothing(
    base_url: str, sqlite_path: Path, authorization: str, expected: tuple[int, str]
) -> None:
    headers = {"Authorization": authorization}
    status, body = await post(base_url, "postmark", postmark_complaint(), headers)
    assert (status, body["reason"]) == expected
    assert table_counts(sqlite_path) == EMPTY


async def test_postmark_malformed_record_is_400(base_url: str, sqlite_path: Path) -> None:
    headers = {"Authorization": basic(POSTMARK_USER, POSTMARK_PASSWORD)}
    status, body = await post(base_url, "postmark", postmark_complaint(Email="nobody"), headers)
    assert (status, body["reason"]) == (400, "malformed")
    assert table_counts(sqlite_path) == EMPTY


@pytest.mark.parametrize(
    "stamp",
    ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
    ids=["far-future", "before-year-1-in-utc", "after-year-9999-in-utc"],
)
async def test_postmark_time_out_of_range_or_far_ahead_is_400(
    base_url: str, sqlite_path: Path, stamp: str
) -> None:
    """Was a 500 (OverflowError), which Postmark retries for hours, or a 202 that counted
    the event in every "last hour" window until the year 9999."""
    headers = {"Authorization": basic(POSTMARK_USER, POSTMARK_PASSWORD)}
    status, body = await post(base_url, "postmark", postmark_complaint(BouncedAt=stamp), headers)
    assert (status, body["reason"]) == (400, "malformed")
    assert table_counts(sqlite_path) == EMPTY


async def test_body_over_max_body_bytes_is_413(
    start_server: StartServer, webhooks: WebhooksConfig, sqlite_path: Path
) -> None:
    base_url = await start_server(webhooks, max_body_bytes=64 * 1024)
    headers = {"Authorization": basic(POSTMARK_USER, POSTMARK_PASSWORD)}
    huge = postmark_complaint(Padding="x" * (65 * 1024))
    status, body = await post(base_url, "postmark", huge, headers)
    assert (status, body) == (413, {"error": "request body too large"})
    assert table_counts(sqlite_path) == EMPTY


# --- logging ------------------------------------------------------------------------------


async def test_refusals_are_logged_at_warning_with_reason_only(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": basic(POSTMARK_USER, "wrong")}
    assert (await post(base_url, "postmark", postmark_complaint(), headers))[0] == 403
    assert (await post(base_url, "mailgun", mailgun_body(key="k" * 32)))[0] == 403
    logged = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "monitor.http.feedback_api"
    ]
    assert logged == [
        (logging.WARNING, "postmark webhook refused: wrong_credentials"),
        (logging.WARNING, "mailgun webhook refused: bad_signature"),
    ]
    for address in ADDRESSES:
        assert address not in caplog.text


async def test_a_refusal_repeated_is_one_warning_a_minute(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Five unsigned Mailgun bodies in a row: one WARNING, the repeats at DEBUG (a stranger
    posting in a loop wrote a WARNING line each)."""
    caplog.set_level(logging.DEBUG)
    for _ in range(5):
        assert (await post(base_url, "mailgun", mailgun_body(key="k" * 32)))[0] == 403
    logged = [
        r.levelno
        for r in caplog.records
        if r.name == "monitor.http.feedback_api" and "refused" in r.getMessage()
    ]
    assert logged == [logging.WARNING] + [logging.DEBUG] * 4
    assert POSTMARK_PASSWORD not in caplog.text
