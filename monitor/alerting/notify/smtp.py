"""The e-mail notifier: one plain-text message per notification over SMTP (aiosmtplib).

Security is ``starttls`` (RFC 3207, required, not opportunistic), ``tls`` (implicit TLS,
RFC 8314) or ``none``, which is refused for anything but a loopback host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from monitor.alerting.notify.errors import NotifyError, NotifyPermanentError, NotifyTemporaryError
from monitor.alerting.notify.model import Notification, format_time
from monitor.config.notify import SmtpSecurity
from monitor.model.hosts import is_loopback_host

__all__ = ["EmailNotifier", "SmtpSecurity", "build_email_message"]

log = logging.getLogger(__name__)


_DEFAULT_PORTS: dict[SmtpSecurity, int] = {"starttls": 587, "tls": 465, "none": 25}


def _message_id(n: Notification, status: str, domain: str) -> str:
    # Stable per (alert, episode, status): a retried message keeps its id, and the
    # resolved message can point at the firing one so mail clients thread them.
    digest = hashlib.sha256(f"{n.key}\0{n.started_at.isoformat()}".encode()).hexdigest()[:32]
    return f"<{digest}.{status}@{domain}>"


def build_email_message(
    n: Notification,
    *,
    sender: str,
    recipients: Sequence[str],
    subject_prefix: str = "[delivermon]",
    now: dt.datetime,
) -> EmailMessage:
    """The plain-text message for ``n``: ``[RESOLVED]`` in the subject once resolved.

    Message-ID is derived from the alert key and episode (RFC 5322 §3.6.4), and the
    resolved message references the firing one. ``Auto-Submitted: auto-generated``
    (RFC 3834) keeps vacation responders quiet.
    """
    domain = parseaddr(sender)[1].rpartition("@")[2] or "delivermon.invalid"
    marker = "[RESOLVED]" if n.resolved else f"[{n.severity.upper()}]"
    subject = " ".join(part for part in (subject_prefix, marker, n.title) if part)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = _message_id(n, n.status, domain)
    if n.resolved:
        firing_id = _message_id(n, "firing", domain)
        message["In-Reply-To"] = firing_id
        message["References"] = firing_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Delivermon-Alert"] = n.key
    message.set_content(_body(n), charset="utf-8")
    return message


def _body(n: Notification) -> str:
    lines = [n.title, "", n.text.rstrip(), ""] if n.text.strip() else [n.title, ""]
    lines.append(f"status:   {n.status}")
    lines.append(f"severity: {n.severity}")
    lines.append(f"kind:     {n.kind}")
    lines.append(f"started:  {format_time(n.started_at)}")
    if n.ended_at is not None:
        lines.append(f"ended:    {format_time(n.ended_at)}")
    for name, value in n.labels:
        lines.append(f"{name + ':':<9} {value}")
    if n.url:
        lines += ["", n.url]
    lines += ["", "-- ", f"delivermon alert {n.key}"]
    return "\n".join(lines) + "\n"


class EmailNotifier:
    """Sends each notification as one message to a fixed list of operator addresses."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        recipients: Sequence[str],
        port: int | None = None,
        security: SmtpSecurity = "starttls",
        username: str | None = None,
        password: str | None = None,
        subject_prefix: str = "[delivermon]",
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """``ssl_context`` defaults to the system CAs with the host name checked.

        Raises:
            ValueError: ``security = "none"`` for a host that is not loopback, no recipients,
                or only one of username and password.
        """
        if security == "none" and not is_loopback_host(host):
            raise ValueError(
                'security = "none" sends mail and credentials in clear text; it is allowed '
                'only for a loopback host: use "starttls" or "tls"'
            )
        if not recipients:
            raise ValueError("an e-mail notifier needs at least one recipient")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.name = name
        self._host = host
        self._port = port if port is not None else _DEFAULT_PORTS[security]
        self._security: SmtpSecurity = security
        self._username = username
        self._password = password
        self._sender = sender
        self._recipients = tuple(recipients)
        self._subject_prefix = subject_prefix
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def __repr__(self) -> str:
        return (
            f"EmailNotifier(name={self.name!r}, host={self._host!r}, port={self._port}, "
            f"security={self._security!r})"
        )

    async def send(self, n: Notification) -> None:
        """Submit one message for ``n``.

        Raises:
            NotifyTemporaryError: connection failure, timeout, SMTP 4xx.
            NotifyPermanentError: SMTP 5xx, refused credentials, TLS certificate refused,
                STARTTLS or AUTH not offered.
        """
        message = build_email_message(
            n,
            sender=self._sender,
            recipients=self._recipients,
            subject_prefix=self._subject_prefix,
            now=self._clock(),
        )
        context = None
        if self._security != "none":
            context = self._ssl_context or ssl.create_default_context()
        try:
            refused, _ = await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                tls_context=context,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._classify(exc) from None
        if refused:
            # Some recipients took it: the alert is out. Count only: these are addresses.
            log.warning("email %s: %d recipient(s) refused the message", self.name, len(refused))
        log.debug("email %s accepted %s (%s)", self.name, n.key, n.status)

    def _classify(self, exc: BaseException) -> NotifyError:
        where = f"{self._host}:{self._port}"
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return NotifyPermanentError("smtp.tls_certificate", f"{where}: certificate refused")
            cause = cause.__cause__ or cause.__context__
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            kind = NotifyTemporaryError if 400 <= exc.code < 500 else NotifyPermanentError
            return kind("smtp.auth", f"{where}: authentication refused ({exc.code})")
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            kind = (
                NotifyTemporaryError if any(400 <= c < 500 for c in codes) else NotifyPermanentError
            )
            return kind("smtp.recipients_refused", f"{where}: every recipient refused {codes}")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if 400 <= exc.code < 500:
                return NotifyTemporaryError(f"smtp.{exc.code}", f"{where} answered {exc.code}")
            return NotifyPermanentError(f"smtp.{exc.code}", f"{where} answered {exc.code}")
        # aiosmtplib raises a bare SMTPException when STARTTLS or AUTH is not offered.
        unsupported = type(exc) is aiosmtplib.SMTPException and "not supported" in str(exc)
        if isinstance(exc, aiosmtplib.SMTPNotSupported) or unsupported:
            return NotifyPermanentError(
                "smtp.not_supported", f"{where}: the server does not offer STARTTLS or AUTH"
            )
        if isinstance(exc, TimeoutError):
            return NotifyTemporaryError(
                "smtp.timeout", f"{where}: no answer within {self._timeout}s"
            )
        return NotifyTemporaryError("smtp.connection", f"{where}: {type(exc).__name__}")
