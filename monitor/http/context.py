"""What every handler reaches through ``request.app[KEY_CONTEXT]``: the live settings, the
store, the clock, and the long-lived HTTP state (Mailgun's replay cache, the SNS
subscription confirmer, the SNS certificate cache). Built once by the composition root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from monitor.config import Config
from monitor.http.outbound import OutboundPolicy, outbound_get
from monitor.http.snscerts import SnsCertificateFetcher
from monitor.ingest.webhooks import TokenCache
from monitor.ingest.webhooks.settings import WebhookVerifiers
from monitor.model.privacy import Pseudonymizer
from monitor.store.models import Store

__all__ = [
    "CONFIRM_TIMEOUT_SECONDS",
    "KEY_CONTEXT",
    "Confirmer",
    "HttpContext",
    "HttpSettings",
    "confirm_subscription",
]

CONFIRM_TIMEOUT_SECONDS = 5.0

# GETs a checked SNS SubscribeURL and returns the HTTP status; raises aiohttp.ClientError
# or TimeoutError when there is no answer. Injectable so tests can answer locally.
Confirmer = Callable[[str], Awaitable[int]]


class HttpSettings(Protocol):
    """What handlers read of the current settings (``monitor.daemon.settings.Settings``).

    Read once per request: a reload swaps the whole value between two requests.
    """

    @property
    def config(self) -> Config: ...
    @property
    def ingest_token(self) -> str | None: ...
    @property
    def admin_token(self) -> str | None: ...
    @property
    def webhooks(self) -> WebhookVerifiers: ...


async def confirm_subscription(url: str, *, policy: OutboundPolicy | None = None) -> int:
    """GET a verified SubscribeURL: public addresses only, no redirects followed, a 5 s
    timeout (``monitor.http.outbound``); the HTTP status.

    Raises:
        OutboundRefused: the host resolves to a non-public address (nothing was sent).
        aiohttp.ClientError, TimeoutError: no answer.
    """
    response = await outbound_get(
        url,
        policy=policy or OutboundPolicy(),
        seconds=CONFIRM_TIMEOUT_SECONDS,
        max_bytes=64 * 1024,
    )
    return response.status


@dataclass(frozen=True, slots=True)
class HttpContext:
    settings: Callable[[], HttpSettings]
    store: Store
    pseudonymizer: Pseudonymizer  # restart-only, like the store
    clock: Callable[[], dt.datetime]
    mailgun_tokens: TokenCache = field(default_factory=TokenCache)  # outlives reloads
    confirm: Confirmer = confirm_subscription
    sns_certificates: SnsCertificateFetcher = field(default_factory=SnsCertificateFetcher)


KEY_CONTEXT = web.AppKey("context", HttpContext)
