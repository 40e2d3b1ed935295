"""SNS signing certificates fetched on demand, and every outbound URL an SNS payload can name
refused unless it is the real thing (SSRF).

"AWS" here is a local HTTPS server with a certificate from a CA made by the test
(tests/certs.py). Production's checks are unchanged: the URL still has to be
``https://sns.us-east-1.amazonaws.com/SimpleNotificationService-<hex>.pem``; the test
injects a resolver that answers that name with the local server's address and port, the
test CA as trust anchor and, where the request is meant to arrive, an explicit allowance
for loopback (tests/outbound.py). Without the allowance the same request is refused
before a connection is made, which is what production does for a name resolving to
loopback or private space.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from certs import pem, write_tls_pair
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from httpapp import api_app
from httpserve import ServeHttp, post_for_json
from outbound import LOOPBACK, StaticResolver
from sns import (
    CERT_NAME,
    CERT_URL,
    SNS_HOST,
    SUBSCRIBE_URL,
    TOPIC,
    notification,
    sign,
    subscription,
)
from sqlitefile import row_counts

from monitor.config import Config, SesWebhookConfig, WebhooksConfig
from monitor.http.outbound import OutboundPolicy
from monitor.http.snscerts import MAX_PEM_BYTES, SnsCertificateFetcher
from monitor.ingest.webhooks import fetchable_cert_url
from monitor.model.privacy import Pseudonymizer
from monitor.store import SqlStore

NOW = dt.datetime(2026, 11, 20, 10, 0, 5, tzinfo=dt.UTC)
BOUNCE = {
    "notificationType": "Bounce",
    "mail": {"timestamp": "2026-11-20T10:00:00Z", "messageId": "m-1", "tags": {"campaign": ["c"]}},
    "bounce": {
        "bounceType": "Permanent",
        "feedbackId": "fb-1",
        "timestamp": "2026-11-20T10:00:00Z",
        "bouncedRecipients": [{"emailAddress": "bounced@example.org"}],
    },
}


def _certificate(key: rsa.RSAPrivateKey, *, days: float = 1) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    start, end = (
        (now - dt.timedelta(days=2), now - dt.timedelta(days=1))
        if days < 0
        else (
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=days),
        )
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    return pem(cert)


@dataclass
class FakeAws:
    """The HTTPS server answering for sns.us-east-1.amazonaws.com; records each request."""

    port: int = 0
    body: bytes = b""
    status: int = 200
    hang: bool = False
    requests: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        if self.hang:
            await asyncio.sleep(30)
        if self.status == 302:
            raise web.HTTPFound("/SimpleNotificationService-ffffffffffffffffffffffffffffffff.pem")
        return web.Response(status=self.status, body=self.body)


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def aws(tmp_path: Path, signer: rsa.RSAPrivateKey) -> AsyncIterator[tuple[FakeAws, Path]]:
    ca_file, key_file = tmp_path / "aws.pem", tmp_path / "aws.key"
    write_tls_pair(ca_file, key_file, common_name=SNS_HOST, hosts=(SNS_HOST,))
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(ca_file, key_file)
    fake = FakeAws(body=_certificate(signer))
    app = web.Application()
    app.router.add_get("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, ca_file
    await runner.cleanup()


def _policy(aws: tuple[FakeAws, Path], *, allow_loopback: bool = True) -> OutboundPolicy:
    fake, ca_file = aws
    return OutboundPolicy(
        resolver=StaticResolver({SNS_HOST: f"127.0.0.1:{fake.port}"}),
        ssl_context=ssl.create_default_context(cafile=str(ca_file)),
        allow=(LOOPBACK,) if allow_loopback else (),
    )


async def _serve(
    serve_http: ServeHttp,
    store: SqlStore,
    fetcher: SnsCertificateFetcher,
    *,
    fetch: bool = True,
    confirm: Any = None,
) -> str:
    ses = SesWebhookConfig(topic_arns=[TOPIC], fetch_certificates=fetch)
    extra = {"confirm": confirm} if confirm is not None else {}
    app = await api_app(
        Config(webhooks=WebhooksConfig(ses=ses)),
        store,
        Pseudonymizer(b"k" * 32),
        clock=lambda: NOW,
        sns_certificates=fetcher,
        **extra,
    )
    return await serve_http(app)


async def _post(base: str, message: dict[str, Any]) -> tuple[int, Any]:
    return await post_for_json(f"{base}/api/v1/webhooks/ses", json.dumps(message))


def _events(db: Path) -> int:
    return row_counts(db, ["events"])["events"]


async def test_an_unpinned_certificate_is_fetched_once_and_verifies(
    aws: tuple[FakeAws, Path],
    signer: rsa.RSAPrivateKey,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
    sqlite_path: Path,
) -> None:
    fetcher = SnsCertificateFetcher(_policy(aws))
    base = await _serve(serve_http, sqlite_store, fetcher)
    first = sign(notification(BOUNCE), signer)
    assert await _post(base, first) == (202, {"accepted": 1, "duplicates": 0})
    again = sign(notification(BOUNCE, MessageId="another"), signer)
    assert await _post(base, again) == (202, {"accepted": 0, "duplicates": 1})
    assert aws[0].requests == [f"/{CERT_NAME}"]  # cached per URL: fetched once
    assert fetcher.fetches == 1
    assert _events(sqlite_path) == 1


async def test_a_message_signed_by_another_key_is_refused_after_the_fetch(
    aws: tuple[FakeAws, Path], serve_http: ServeHttp, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    base = await _serve(serve_http, sqlite_store, SnsCertificateFetcher(_policy(aws)))
    forged = sign(
        notification(BOUNCE), rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    status, body = await _post(base, forged)
    assert (status, body["reason"]) == (403, "bad_signature")
    assert _events(sqlite_path) == 0


@pytest.mark.parametrize(
    ("setup", "status", "reason"),
    [
        pytest.param({"status": 302}, 403, "unknown_certificate", id="redirect-not-followed"),
        pytest.param({"status": 404}, 403, "unknown_certificate", id="not-found"),
        pytest.param({"status": 503}, 503, "certificate_unavailable", id="server-error"),
        pytest.param(
            {"body": b"A" * (MAX_PEM_BYTES + 1)}, 403, "unknown_certificate", id="oversized"
        ),
        pytest.param({"body": b"not a certificate"}, 403, "unknown_certificate", id="not-pem"),
        pytest.param({"hang": True}, 503, "certificate_unavailable", id="hangs"),
        pytest.param({"expired": True}, 403, "unknown_certificate", id="expired"),
    ],
)
async def test_a_bad_certificate_answer_is_refused_and_stores_nothing(
    aws: tuple[FakeAws, Path],
    signer: rsa.RSAPrivateKey,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
    sqlite_path: Path,
    setup: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    fake = aws[0]
    if setup.pop("expired", False):
        fake.body = _certificate(signer, days=-1)
    for name, value in setup.items():
        setattr(fake, name, value)
    base = await _serve(serve_http, sqlite_store, SnsCertificateFetcher(_policy(aws), seconds=0.5))
    answer = await _post(base, sign(notification(BOUNCE), signer))
    assert (answer[0], answer[1]["reason"]) == (status, reason)
    assert _events(sqlite_path) == 0
    assert len(fake.requests) == 1  # a redirect's target is never asked


async def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    aws: tuple[FakeAws, Path],
    signer: rsa.RSAPrivateKey,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
) -> None:
    policy = _policy(aws, allow_loopback=False)  # production's rule: no allowance
    base = await _serve(serve_http, sqlite_store, SnsCertificateFetcher(policy))
    answer = await _post(base, sign(notification(BOUNCE), signer))
    assert (answer[0], answer[1]["reason"]) == (403, "unknown_certificate")
    assert policy.resolver.asked == [SNS_HOST]  # type: ignore[union-attr]
    assert aws[0].requests == []


async def test_fetch_certificates_false_never_fetches(
    aws: tuple[FakeAws, Path],
    signer: rsa.RSAPrivateKey,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
) -> None:
    base = await _serve(serve_http, sqlite_store, SnsCertificateFetcher(_policy(aws)), fetch=False)
    answer = await _post(base, sign(notification(BOUNCE), signer))
    assert (answer[0], answer[1]["reason"]) == (403, "unknown_certificate")
    assert aws[0].requests == []


HOSTILE_CERT_URLS = {
    "http": f"http://{SNS_HOST}/{CERT_NAME}",
    "non-aws-host": f"https://certs.example.com/{CERT_NAME}",
    "look-alike-suffix": f"https://{SNS_HOST}.evil.example/{CERT_NAME}",
    "look-alike-label": f"https://sns.us-east-1.amazonaws.co/{CERT_NAME}",
    "look-alike-dash": f"https://sns-us-east-1.amazonaws.com/{CERT_NAME}",
    "userinfo": f"https://{SNS_HOST}@evil.example/{CERT_NAME}",
    "userinfo-2": f"https://evil.example@{SNS_HOST}/{CERT_NAME}",
    "ip-literal": f"https://52.94.0.1/{CERT_NAME}",
    "ip-literal-v6": f"https://[2600:1f18::1]/{CERT_NAME}",
    "metadata": "https://169.254.169.254/latest/meta-data/",
    "port": f"https://{SNS_HOST}:8443/{CERT_NAME}",
    "other-region": f"https://sns.eu-west-1.amazonaws.com/{CERT_NAME}",
    "china-suffix-wrong-region": f"https://sns.us-east-1.amazonaws.com.cn/{CERT_NAME}",
    "subdirectory": f"https://{SNS_HOST}/x/{CERT_NAME}",
    "dot-segments": f"https://{SNS_HOST}/x/../{CERT_NAME}",
    "encoded": f"https://{SNS_HOST}/%53impleNotificationService-0123456789abcdef.pem",
    "query": f"https://{SNS_HOST}/{CERT_NAME}?redirect=https://evil.example/",
    "fragment": f"https://{SNS_HOST}/{CERT_NAME}#x",
    "backslash": f"https://{SNS_HOST}\\@evil.example/{CERT_NAME}",
    "unicode-dot": f"https://sns\u3002us-east-1.amazonaws.com/{CERT_NAME}",
    "uppercase-host": f"https://SNS.US-EAST-1.AMAZONAWS.COM/{CERT_NAME}",
    "whitespace": f"https://{SNS_HOST}/{CERT_NAME} ",
    "not-a-sns-name": f"https://{SNS_HOST}/evil.pem",
}


@pytest.mark.parametrize("url", list(HOSTILE_CERT_URLS.values()), ids=list(HOSTILE_CERT_URLS))
async def test_a_hostile_signing_cert_url_is_refused_without_any_lookup_or_connection(
    aws: tuple[FakeAws, Path],
    signer: rsa.RSAPrivateKey,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
    url: str,
) -> None:
    policy = _policy(aws)  # even with loopback allowed, nothing is asked or fetched
    base = await _serve(serve_http, sqlite_store, SnsCertificateFetcher(policy))
    status, body = await _post(base, sign(notification(BOUNCE), signer, cert_url=url))
    assert status == 403
    assert body["reason"] in ("untrusted_cert_url", "unknown_certificate")
    assert policy.resolver.asked == []  # type: ignore[union-attr]
    assert aws[0].requests == []


@pytest.mark.parametrize(
    ("topic", "url"),
    [
        ("arn:aws:sns:us-east-1:123456789012:t", f"https://{SNS_HOST}/{CERT_NAME}"),
        (
            "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t",
            f"https://sns.us-gov-west-1.amazonaws.com/{CERT_NAME}",
        ),
        (
            "arn:aws-cn:sns:cn-north-1:123456789012:t",
            f"https://sns.cn-north-1.amazonaws.com.cn/{CERT_NAME}",
        ),
    ],
    ids=["aws", "govcloud", "china"],
)
def test_the_real_url_forms_of_each_partition_are_fetchable(topic: str, url: str) -> None:
    message = {"TopicArn": topic, "SigningCertURL": url}
    assert fetchable_cert_url(message, topic_arns={topic}) == url
    assert fetchable_cert_url(message, topic_arns=set()) is None  # only for allowed topics


# --- SubscribeURL ----------------------------------------------------------------------------

HOSTILE_SUBSCRIBE_URLS = {
    "http": SUBSCRIBE_URL.replace("https://", "http://"),
    "non-aws-host": SUBSCRIBE_URL.replace(SNS_HOST, "confirm.example.com"),
    "look-alike": SUBSCRIBE_URL.replace(SNS_HOST, SNS_HOST + ".evil.example"),
    "userinfo": SUBSCRIBE_URL.replace(SNS_HOST, f"{SNS_HOST}@127.0.0.1"),
    "ip-literal": SUBSCRIBE_URL.replace(SNS_HOST, "127.0.0.1"),
    "metadata": "http://169.254.169.254/latest/meta-data/iam/",
    "port": SUBSCRIBE_URL.replace(SNS_HOST, SNS_HOST + ":8443"),
    "other-action": SUBSCRIBE_URL.replace("ConfirmSubscription", "Unsubscribe"),
    "other-topic": SUBSCRIBE_URL.replace("ses-feedback", "other-topic"),
    "path": SUBSCRIBE_URL.replace(f"{SNS_HOST}/", f"{SNS_HOST}/redirect/"),
    "duplicate-action": SUBSCRIBE_URL + "&Action=Unsubscribe",
    "fragment": SUBSCRIBE_URL + "#x",
    "backslash": SUBSCRIBE_URL.replace(f"{SNS_HOST}/", f"{SNS_HOST}\\@evil.example/"),
}


@pytest.mark.parametrize(
    "url", list(HOSTILE_SUBSCRIBE_URLS.values()), ids=list(HOSTILE_SUBSCRIBE_URLS)
)
async def test_a_hostile_subscribe_url_is_refused_and_never_fetched(
    tmp_path: Path,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
    url: str,
    signer: rsa.RSAPrivateKey,
) -> None:
    key = signer
    pinned = tmp_path / CERT_NAME
    pinned.write_bytes(_certificate(key))
    fetched: list[str] = []

    async def confirm(target: str) -> int:
        fetched.append(target)
        return 200

    ses = SesWebhookConfig(topic_arns=[TOPIC], certificate_files=[str(pinned)])
    app = await api_app(
        Config(webhooks=WebhooksConfig(ses=ses)),
        sqlite_store,
        Pseudonymizer(b"k" * 32),
        clock=lambda: NOW,
        confirm=confirm,
    )
    base = await serve_http(app)
    status, body = await _post(base, sign(subscription(SubscribeURL=url), key, cert_url=CERT_URL))
    assert (status, body["reason"]) == (403, "untrusted_subscribe_url")
    assert fetched == []


async def test_a_subscribe_host_resolving_to_loopback_is_never_connected(
    aws: tuple[FakeAws, Path], tmp_path: Path, serve_http: ServeHttp, sqlite_store: SqlStore
) -> None:
    """The real confirmer with production's address rule: the name is the real SNS host,
    but it resolves to loopback, so no connection is made (502)."""
    from monitor.http.context import confirm_subscription

    policy = _policy(aws, allow_loopback=False)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pinned = tmp_path / CERT_NAME
    pinned.write_bytes(_certificate(key))
    ses = SesWebhookConfig(topic_arns=[TOPIC], certificate_files=[str(pinned)])

    async def confirm(url: str) -> int:
        return await confirm_subscription(url, policy=policy)

    app = await api_app(
        Config(webhooks=WebhooksConfig(ses=ses)),
        sqlite_store,
        Pseudonymizer(b"k" * 32),
        clock=lambda: NOW,
        confirm=confirm,
    )
    base = await serve_http(app)
    status, _ = await _post(base, sign(subscription(), key, cert_url=CERT_URL))
    assert status == 502
    assert policy.resolver.asked == [SNS_HOST]  # type: ignore[union-attr]
    assert aws[0].requests == []


async def test_certificate_fetches_are_budgeted_whatever_the_urls(
    aws: tuple[FakeAws, Path],
    signer: rsa.RSAPrivateKey,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
) -> None:
    """A sender naming a new certificate in each message (before any signature can be
    checked), at a host that answers 503 (never cached): after FETCH_BUDGET fetches in
    the window, the rest get 503 with no outbound request."""
    from monitor.http.snscerts import FETCH_BUDGET

    fake = aws[0]
    fake.status = 503
    base = await _serve(serve_http, sqlite_store, SnsCertificateFetcher(_policy(aws)))
    answers = []
    for n in range(FETCH_BUDGET + 3):
        url = f"https://{SNS_HOST}/SimpleNotificationService-{n:032x}.pem"
        status, body = await _post(base, sign(notification(BOUNCE), signer, cert_url=url))
        answers.append((status, body["reason"]))
    assert answers == [(503, "certificate_unavailable")] * (FETCH_BUDGET + 3)
    assert len(fake.requests) == FETCH_BUDGET


async def _post_from(source: str, base: str, message: dict[str, Any]) -> tuple[int, Any]:
    """``_post`` from the loopback address ``source`` (another client than 127.0.0.1)."""
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(f"{base}/api/v1/webhooks/ses", data=json.dumps(message)) as response,
    ):
        return response.status, await response.json()


async def test_a_strangers_made_up_certificates_do_not_stop_sns_bringing_new_ones(
    aws: tuple[FakeAws, Path],
    signer: rsa.RSAPrivateKey,
    serve_http: ServeHttp,
    sqlite_store: SqlStore,
) -> None:
    """A stranger (from 127.0.0.2) names a made-up certificate in each message, past its
    budget (the host answers 404 for them). SNS's messages, from 127.0.0.1, still bring
    new certificates; and fetches that bring a good certificate are not counted, so more
    of them than the budget all verify. Before, one budget for everyone was spent by the
    stranger and SNS's messages got 503 until the window moved."""
    from monitor.http.snscerts import FETCH_BUDGET

    fake = aws[0]
    base = await _serve(serve_http, sqlite_store, SnsCertificateFetcher(_policy(aws)))
    fake.status = 404
    reasons = []
    for n in range(FETCH_BUDGET + 2):
        url = f"https://{SNS_HOST}/SimpleNotificationService-{n:032x}.pem"
        message = sign(notification(BOUNCE), signer, cert_url=url)
        reasons.append((await _post_from("127.0.0.2", base, message))[1]["reason"])
    assert reasons == ["unknown_certificate"] * FETCH_BUDGET + ["certificate_unavailable"] * 2
    assert len(fake.requests) == FETCH_BUDGET
    fake.status = 200
    answers = []
    for n in range(FETCH_BUDGET + 2):
        url = f"https://{SNS_HOST}/SimpleNotificationService-{n + 100:032x}.pem"
        message = sign(notification(BOUNCE, MessageId=f"m-{n}"), signer, cert_url=url)
        answers.append((await _post(base, message))[0])
    assert answers == [202] * (FETCH_BUDGET + 2)
    assert len(fake.requests) == 2 * FETCH_BUDGET + 2
