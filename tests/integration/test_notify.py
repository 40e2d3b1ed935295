"""The notifiers against real servers on 127.0.0.1: aiosmtpd for e-mail, an aiohttp receiver for
the webhooks.

Pins: what arrives (payload, headers, message), STARTTLS / implicit TLS with a certificate made
here, AUTH PLAIN and LOGIN, and how each failure is classified and retried: a wrong password or
an HTTP 400 is permanent and not retried, a closed port, a 500 or a slow receiver is temporary,
a redirect is never followed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from certs import write_tls_pair
from dnsserver import HOST, pick_free_port
from httpserve import ServeHttp

from monitor.alerting.notify import (
    EmailNotifier,
    Notification,
    NotifyPermanentError,
    NotifyTemporaryError,
    RetryPolicy,
    Route,
    SlackNotifier,
    WebhookNotifier,
    deliver,
)

STARTED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
USERNAME = "delivermon"
PASSWORD = "s3cret-test-password"
SENDER = "delivermon@example.com"
RECIPIENTS = ("ops@example.com", "noc@example.com")


def notification(*, resolved: bool = False) -> Notification:
    return Notification(
        key="listed:192.0.2.1:zen.spamhaus.org",
        kind="listed",
        status="resolved" if resolved else "firing",
        severity="critical",
        title="192.0.2.1 is listed on zen.spamhaus.org",
        text="Return code 127.0.0.2 (SBL).",
        labels=(("target", "192.0.2.1"), ("zone", "zen.spamhaus.org")),
        started_at=STARTED,
        ended_at=STARTED + dt.timedelta(hours=2) if resolved else None,
        url="https://monitor.example.com/targets/192.0.2.1",
    )


class NoSleep:
    """Records the back-off waits instead of sleeping: no test waits on the clock."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class Received:
    envelope: Envelope
    tls: bool
    login: bytes | None


@dataclass
class Recorder:
    """aiosmtpd handler keeping every accepted message with how its session was secured."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 -- the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.messages.append(Received(envelope, session.ssl is not None, login))
        return "250 OK"


class Connections:
    """Counts the server's open SMTP connections (the server runs in aiosmtpd's own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0

    def change(self, delta: int) -> None:
        with self._lock:
            self.open += delta


class TrackedSMTP(SMTP):
    def __init__(self, handler: Recorder, connections: Connections, **kwargs: object) -> None:
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]  # aiosmtpd's kwargs
        self._connections = connections
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again with the TLS transport after STARTTLS: count the connection once.
        if not self._counted:
            self._counted = True
            self._connections.change(1)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._connections.change(-1)
        super().connection_lost(error)


class TrackedController(Controller):
    def __init__(self, handler: Recorder, connections: Connections, **kwargs: object) -> None:
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]  # aiosmtpd's kwargs
        self._connections = connections

    def factory(self) -> SMTP:
        return TrackedSMTP(self.handler, self._connections, **self.SMTP_kwargs)


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    directory = tmp_path_factory.mktemp("smtp-tls")
    cert = Certificate(directory / "cert.pem", directory / "key.pem")
    write_tls_pair(cert.cert_file, cert.key_file, common_name="delivermon test SMTP")
    return cert


Security = Literal["starttls", "tls", "none"]
StartSmtp = Callable[..., tuple[Recorder, int]]


@pytest.fixture
async def smtp_server(certificate: Certificate) -> AsyncIterator[StartSmtp]:
    """Starts aiosmtpd on 127.0.0.1 with the given security; stops every server afterwards.

    Before stopping, it lets the test's event loop run until the server has seen every
    client connection close: a TLS client finishes closing in later loop iterations, and a
    loop closed before then leaves its socket to the garbage collector (a ResourceWarning).
    """
    controllers: list[Controller] = []
    connections = Connections()

    def start(security: Security, *, exclude: tuple[str, ...] = ()) -> tuple[Recorder, int]:
        recorder = Recorder()
        port = pick_free_port()
        kwargs: dict[str, object] = {}
        if security == "starttls":
            kwargs = {
                "tls_context": certificate.server_context(),
                "require_starttls": True,
                "authenticator": authenticate,
                "auth_required": True,
            }
        elif security == "tls":
            # aiosmtpd counts only STARTTLS as TLS for AUTH, so on its implicit-TLS port AUTH
            # is offered (not required) with auth_require_tls off; the client still logs in.
            kwargs = {
                "ssl_context": certificate.server_context(),
                "authenticator": authenticate,
                "auth_require_tls": False,
            }
        if exclude:
            kwargs["auth_exclude_mechanism"] = exclude
        controller = TrackedController(
            recorder, connections, hostname=HOST, port=port, server_hostname="localhost", **kwargs
        )
        controller.start()
        controllers.append(controller)
        return recorder, port

    yield start
    for _ in range(500):  # a bound, not a timing assertion: normally one or two turns
        if connections.open == 0:
            break
        await asyncio.sleep(0.01)
    for controller in controllers:
        await asyncio.to_thread(controller.stop)


def email_notifier(
    port: int, security: Security, certificate: Certificate, *, password: str = PASSWORD
) -> EmailNotifier:
    credentials = {} if security == "none" else {"username": USERNAME, "password": password}
    return EmailNotifier(
        "email",
        host=HOST,
        port=port,
        security=security,
        sender=f"Delivermon <{SENDER}>",
        recipients=RECIPIENTS,
        ssl_context=certificate.client_context(),
        timeout=10,
        **credentials,  # type: ignore[arg-type]  # str values for str | None parameters
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_email_over_starttls_with_auth_is_delivered(
    smtp_server: StartSmtp, certificate: Certificate, mechanism: str
) -> None:
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    recorder, port = await asyncio.to_thread(smtp_server, "starttls", exclude=(other,))
    notifier = email_notifier(port, "starttls", certificate)
    await notifier.send(notification())
    await notifier.send(notification(resolved=True))

    firing, resolved = recorder.messages
    assert firing.tls
    assert firing.login == USERNAME.encode()
    assert firing.envelope.mail_from == SENDER
    assert firing.envelope.rcpt_tos == list(RECIPIENTS)
    assert isinstance(firing.envelope.content, bytes)
    assert isinstance(resolved.envelope.content, bytes)
    first = email.message_from_bytes(firing.envelope.content, policy=email.policy.default)
    second = email.message_from_bytes(resolved.envelope.content, policy=email.policy.default)
    assert first["Subject"] == "[delivermon] [CRITICAL] 192.0.2.1 is listed on zen.spamhaus.org"
    assert second["Subject"] == "[delivermon] [RESOLVED] 192.0.2.1 is listed on zen.spamhaus.org"
    assert first["Message-ID"].endswith("@example.com>")
    assert second["In-Reply-To"] == first["Message-ID"]
    assert first["Date"].datetime.tzinfo is not None
    assert "zone:     zen.spamhaus.org" in first.get_content()


async def test_email_over_implicit_tls_is_delivered(
    smtp_server: StartSmtp, certificate: Certificate
) -> None:
    recorder, port = await asyncio.to_thread(smtp_server, "tls")
    await email_notifier(port, "tls", certificate).send(notification())
    (received,) = recorder.messages
    # aiosmtpd does not flag implicit TLS on the session: the port speaks only TLS, and the
    # client trusts only the test certificate.
    assert received.login == USERNAME.encode()


async def test_plaintext_smtp_to_loopback_does_not_attempt_auth_or_tls(
    smtp_server: StartSmtp, certificate: Certificate
) -> None:
    recorder, port = await asyncio.to_thread(smtp_server, "none")
    await email_notifier(port, "none", certificate).send(notification())
    (received,) = recorder.messages
    assert not received.tls
    assert received.login is None


async def test_wrong_password_is_permanent_and_not_retried(
    smtp_server: StartSmtp, certificate: Certificate
) -> None:
    recorder, port = await asyncio.to_thread(smtp_server, "starttls")
    notifier = email_notifier(port, "starttls", certificate, password="wrong")
    sleep = NoSleep()
    (outcome,) = await deliver(
        [Route(notifier)], notification(), policy=RetryPolicy(attempts=3), sleep=sleep
    )
    assert (outcome.status, outcome.attempts, outcome.reason) == ("failed", 1, "smtp.auth")
    assert sleep.waits == []
    assert recorder.messages == []
    with pytest.raises(NotifyPermanentError) as info:
        await notifier.send(notification())
    assert "wrong" not in str(info.value)


async def test_untrusted_certificate_is_permanent(
    smtp_server: StartSmtp, certificate: Certificate
) -> None:
    _, port = await asyncio.to_thread(smtp_server, "starttls")
    notifier = EmailNotifier(
        "email", host=HOST, port=port, sender=SENDER, recipients=RECIPIENTS, timeout=10
    )  # the system CAs do not know the test certificate
    with pytest.raises(NotifyPermanentError) as info:
        await notifier.send(notification())
    assert info.value.reason == "smtp.tls_certificate"


async def test_smtp_server_down_is_temporary_and_retried(certificate: Certificate) -> None:
    port = pick_free_port()  # nothing listens here
    notifier = email_notifier(port, "starttls", certificate)
    with pytest.raises(NotifyTemporaryError):
        await notifier.send(notification())
    sleep = NoSleep()
    (outcome,) = await deliver(
        [Route(notifier)], notification(), policy=RetryPolicy(attempts=3), sleep=sleep
    )
    assert (outcome.status, outcome.attempts, outcome.reason) == ("failed", 3, "smtp.connection")
    assert len(sleep.waits) == 2


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A loopback HTTP receiver: ``/hook`` answers the scripted statuses (then 200)."""

    base: str
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    redirect_target_hits: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def hook(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {"Retry-After": "7"} if status == 429 else {}
        return web.Response(status=status, text="ok", headers=headers)

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/target")

    async def target(self, request: web.Request) -> web.Response:
        self.redirect_target_hits += 1
        return web.Response(text="ok")

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()  # longer than any notifier timeout in these tests
        return web.Response(text="late")


@pytest.fixture
async def receiver(serve_http: ServeHttp) -> AsyncIterator[Receiver]:
    receiver = Receiver("")
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    app.router.add_post("/redirect", receiver.redirect)
    app.router.add_post("/target", receiver.target)
    app.router.add_post("/slow", receiver.slow)
    receiver.base = await serve_http(app)
    yield receiver
    receiver.release.set()  # before serve_http closes the server: no handler left waiting


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_webhook_payload_and_headers_arrive_as_documented(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    notifier = WebhookNotifier(
        "hook",
        f"{receiver.base}/hook",
        session=session,
        headers={"Authorization": "Bearer t0ken"},
    )
    await notifier.send(notification(resolved=True))
    ((headers, body),) = receiver.requests
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer t0ken"
    assert json.loads(body) == {
        "version": 1,
        "status": "resolved",
        "key": "listed:192.0.2.1:zen.spamhaus.org",
        "kind": "listed",
        "severity": "critical",
        "title": "192.0.2.1 is listed on zen.spamhaus.org",
        "text": "Return code 127.0.0.2 (SBL).",
        "labels": {"target": "192.0.2.1", "zone": "zen.spamhaus.org"},
        "started_at": "2024-05-01T12:00:00Z",
        "ended_at": "2024-05-01T14:00:00Z",
        "url": "https://monitor.example.com/targets/192.0.2.1",
    }


async def test_http_500_then_200_is_retried_and_delivered_once(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.statuses = [500, 200]
    notifier = WebhookNotifier("hook", f"{receiver.base}/hook", session=session)
    sleep = NoSleep()
    (outcome,) = await deliver(
        [Route(notifier)], notification(), policy=RetryPolicy(attempts=4), sleep=sleep
    )
    assert (outcome.status, outcome.attempts) == ("sent", 2)
    assert len(receiver.requests) == 2
    assert len(sleep.waits) == 1
    assert receiver.requests[0][1] == receiver.requests[1][1]


async def test_http_400_is_permanent_and_not_retried(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.statuses = [400]
    notifier = WebhookNotifier("hook", f"{receiver.base}/hook", session=session)
    sleep = NoSleep()
    (outcome,) = await deliver(
        [Route(notifier)], notification(), policy=RetryPolicy(attempts=4), sleep=sleep
    )
    assert (outcome.status, outcome.attempts, outcome.reason) == ("failed", 1, "http.status_400")
    assert len(receiver.requests) == 1
    assert sleep.waits == []


async def test_http_429_is_temporary_with_the_retry_after_hint(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.statuses = [429]
    notifier = SlackNotifier("slack", f"{receiver.base}/hook", session=session)
    with pytest.raises(NotifyTemporaryError) as info:
        await notifier.send(notification())
    assert (info.value.reason, info.value.retry_after) == ("http.status_429", 7.0)


async def test_redirect_is_not_followed(receiver: Receiver, session: aiohttp.ClientSession) -> None:
    notifier = WebhookNotifier("hook", f"{receiver.base}/redirect", session=session)
    with pytest.raises(NotifyPermanentError) as info:
        await notifier.send(notification())
    assert info.value.reason == "http.redirect"
    assert receiver.redirect_target_hits == 0


async def test_slow_receiver_is_a_temporary_timeout(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    notifier = WebhookNotifier("hook", f"{receiver.base}/slow", session=session, timeout=0.2)
    with pytest.raises(NotifyTemporaryError) as info:
        await notifier.send(notification())
    assert info.value.reason == "http.timeout"


async def test_closed_port_is_a_temporary_connection_error(session: aiohttp.ClientSession) -> None:
    url = f"http://{HOST}:{pick_free_port()}/hook/SECRET-PATH"
    notifier = SlackNotifier("slack", url, session=session)
    with pytest.raises(NotifyTemporaryError) as info:
        await notifier.send(notification())
    assert info.value.reason == "http.connection"
    assert "SECRET-PATH" not in str(info.value)


async def test_slack_message_has_text_and_blocks_and_marks_resolved(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    notifier = SlackNotifier("slack", f"{receiver.base}/hook", session=session)
    await notifier.send(notification(resolved=True))
    ((_headers, body),) = receiver.requests
    payload = json.loads(body)
    assert set(payload) == {"text", "blocks"}
    assert "[RESOLVED] 192.0.2.1 is listed on zen.spamhaus.org" in payload["text"]
    assert payload["blocks"][0]["text"]["text"].startswith("[RESOLVED]")
