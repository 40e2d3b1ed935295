"""The generic JSON webhook notifier, its versioned payload, and the HTTP POST both webhooks share.

Payload version 1 is a public contract (``docs/notifications.md``): fields are only ever
added, and a breaking change bumps ``version``. Redirects are never followed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Literal, TypedDict

import aiohttp

from monitor.alerting.notify.errors import NotifyPermanentError, NotifyTemporaryError
from monitor.alerting.notify.model import Notification, format_time
from monitor.model.hosts import check_webhook_url, redact_url

__all__ = [
    "PAYLOAD_VERSION",
    "WebhookNotifier",
    "WebhookPayload",
    "build_webhook_payload",
    "check_webhook_url",
    "post_json",
]

log = logging.getLogger(__name__)

PAYLOAD_VERSION: Literal[1] = 1
USER_AGENT = "delivermon-notifier/1"
_RESPONSE_READ_LIMIT = 64 * 1024


class WebhookPayload(TypedDict):
    """The JSON body of a generic webhook notification, version 1."""

    version: Literal[1]
    status: str
    key: str
    kind: str
    severity: str
    title: str
    text: str
    labels: dict[str, str]
    started_at: str
    ended_at: str | None
    url: str | None


def build_webhook_payload(n: Notification) -> WebhookPayload:
    """The version-1 payload for ``n``; timestamps are RFC 3339 UTC (``...Z``)."""
    return {
        "version": PAYLOAD_VERSION,
        "status": n.status,
        "key": n.key,
        "kind": n.kind,
        "severity": n.severity,
        "title": n.title,
        "text": n.text,
        "labels": dict(n.labels),
        "started_at": format_time(n.started_at),
        "ended_at": format_time(n.ended_at) if n.ended_at is not None else None,
        "url": n.url,
    }


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: Mapping[str, object],
    *,
    headers: Mapping[str, str],
    request_timeout: float,
) -> None:
    """POST ``body`` as JSON once, without following redirects; 2xx is success.

    Raises:
        NotifyTemporaryError: timeout, connection failure, HTTP 408, 429 or 5xx.
        NotifyPermanentError: an invalid URL, a TLS certificate refusal, HTTP 3xx or 4xx.
    """
    where = redact_url(url)
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with session.post(
            url,
            data=data,
            headers=all_headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=request_timeout),
        ) as response:
            await response.content.read(_RESPONSE_READ_LIMIT)
            status = response.status
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except TimeoutError:
        raise NotifyTemporaryError(
            "http.timeout", f"{where}: no answer within {request_timeout}s"
        ) from None
    except aiohttp.InvalidURL:
        raise NotifyPermanentError("http.invalid_url", f"{where}: invalid URL") from None
    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
        raise NotifyPermanentError(
            "http.tls", f"{where}: TLS refused ({type(exc).__name__})"
        ) from None
    except aiohttp.ClientError as exc:
        raise NotifyTemporaryError("http.connection", f"{where}: {type(exc).__name__}") from None
    _raise_for_status(status, where, retry_after)


def _raise_for_status(status: int, where: str, retry_after: float | None) -> None:
    if 200 <= status < 300:
        return
    if status in (408, 429) or status >= 500:
        raise NotifyTemporaryError(
            f"http.status_{status}", f"{where} answered HTTP {status}", retry_after=retry_after
        )
    if 300 <= status < 400:
        raise NotifyPermanentError(
            "http.redirect", f"{where} answered HTTP {status} (redirects are not followed)"
        )
    raise NotifyPermanentError(f"http.status_{status}", f"{where} answered HTTP {status}")


def _retry_after(value: str | None) -> float | None:
    # RFC 9110 §10.2.3 also allows an HTTP-date; only the delta-seconds form is honoured.
    if value is None or not (value.strip().isascii() and value.strip().isdigit()):
        return None
    return float(value.strip())


class WebhookNotifier:
    """POSTs the version-1 JSON payload to one URL, with optional extra headers."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        session: aiohttp.ClientSession,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Raises ``ValueError`` for a URL ``check_webhook_url`` refuses."""
        check_webhook_url(url)
        self.name = name
        self._url = url
        self._session = session
        self._headers = dict(headers or {})
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, url={redact_url(self._url)!r})"

    async def send(self, n: Notification) -> None:
        """POST ``n`` once.

        Raises:
            NotifyTemporaryError, NotifyPermanentError: as ``post_json``.
        """
        payload = build_webhook_payload(n)
        await post_json(
            self._session, self._url, payload, headers=self._headers, request_timeout=self._timeout
        )
        log.debug("webhook %s accepted %s (%s)", self.name, n.key, n.status)
