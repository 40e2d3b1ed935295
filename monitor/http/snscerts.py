"""Amazon SNS signing certificates fetched on demand, so verification survives AWS's
certificate rotations without the operator pinning each new one.

Only a URL that ``fetchable_cert_url`` approved is fetched (https, the topic's regional SNS
host, ``/SimpleNotificationService-<hex>.pem``, a configured topic), through
``outbound_get`` (public addresses only, no redirects, no proxy), within
``FETCH_SECONDS`` and ``MAX_PEM_BYTES``. The certificate must be an RSA certificate valid
now. Results are cached per URL: a good certificate until it expires (at most
``CACHE_SECONDS``), a refusal for ``NEGATIVE_SECONDS`` (so a flood of messages naming a bad
URL costs one request), with at most ``CACHE_ENTRIES`` URLs kept. A host that does not
answer is not cached: the message is answered 503 and SNS retries it.

Fetches are budgeted, whatever the URLs: a sender naming a new certificate in each
message (before any signature can be checked) gets 503s, not one outbound request each.
What the budget counts is fetches that did not bring a good certificate (and those under
way): at most ``FETCH_BUDGET`` from one client address and ``FETCH_BUDGET_ALL`` from all
together in any ``FETCH_WINDOW`` seconds. A good certificate is cached, so the fetches
that bring one are few by nature (SNS uses one certificate for months), and a stranger
who spends its own budget on made-up URLs does not stop SNS's messages, from other
addresses, from bringing AWS's next certificate. (Behind a reverse proxy every request
has the proxy's address: the budgets are then one.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from monitor.http.outbound import OutboundPolicy, OutboundRefused, outbound_get
from monitor.ingest.webhooks import (
    AuthenticityRefused,
    CertificateUnavailable,
    Reason,
    WebhookConfigError,
    certificate_keys,
)
from monitor.model.events import Source

__all__ = [
    "CACHE_ENTRIES",
    "FETCH_BUDGET",
    "FETCH_BUDGET_ALL",
    "FETCH_SECONDS",
    "MAX_PEM_BYTES",
    "SnsCertificateFetcher",
]

log = logging.getLogger(__name__)

FETCH_SECONDS = 5.0
MAX_PEM_BYTES = 16 * 1024  # SNS's certificates are under 2 KiB
CACHE_ENTRIES = 64
CACHE_SECONDS = 24 * 3600.0
NEGATIVE_SECONDS = 300.0
FETCH_BUDGET = 10  # from one client address
FETCH_BUDGET_ALL = 50  # from all client addresses together
FETCH_WINDOW = 600.0
_PEERS = 4096  # client addresses whose recent fetches are remembered
_SES = Source.SES

Keys = tuple[RSAPublicKey, ...]


class SnsCertificateFetcher:
    """``await fetcher.keys(url)``: the certificate's keys, or a refusal. One per daemon."""

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        seconds: float = FETCH_SECONDS,
    ) -> None:
        self._policy = policy or OutboundPolicy()
        self._clock = clock
        self._seconds = seconds
        self._cache: OrderedDict[str, tuple[float, Keys | AuthenticityRefused]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        # When the window's fetches that brought no good certificate (or are under way)
        # began: all together, and per client address.
        self._recent: deque[list[float]] = deque()
        self._by_peer: OrderedDict[str, deque[list[float]]] = OrderedDict()
        self._said_over = False
        self.fetches = 0  # requests made (the cache's effect shows here)

    async def keys(self, url: str, peer: str = "") -> Keys:
        """The keys of the certificate at ``url`` (already approved by ``fetchable_cert_url``),
        for a message from the client address ``peer``.

        Raises:
            AuthenticityRefused: unknown_certificate (redirect, error status, too large, not
                an RSA certificate valid now, a non-public address).
            CertificateUnavailable: no answer in time, or a 5xx: not cached, retry later.
        """
        cached = self._cached(url)
        if cached is None:
            lock = self._locks.setdefault(url, asyncio.Lock())
            async with lock:  # one fetch per URL however many messages arrive together
                cached = self._cached(url)
                if cached is None:
                    cached = await self._fetch(url, peer)
            if not lock.locked():
                self._locks.pop(url, None)
        if isinstance(cached, AuthenticityRefused):
            raise cached
        return cached

    def _cached(self, url: str) -> Keys | AuthenticityRefused | None:
        entry = self._cache.get(url)
        if entry is None:
            return None
        until, value = entry
        if self._clock() >= until:
            del self._cache[url]
            return None
        self._cache.move_to_end(url)
        return value

    def _remember(self, url: str, value: Keys | AuthenticityRefused, seconds: float) -> None:
        self._cache[url] = (self._clock() + seconds, value)
        self._cache.move_to_end(url)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)

    def _over_budget(self, peer: str) -> bool:
        """Whether ``peer``'s budget, or everyone's, is spent (forgetting what left the
        window)."""
        now = self._clock()
        while self._recent and now - self._recent[0][0] >= FETCH_WINDOW:
            self._recent.popleft()
        mine = self._by_peer.pop(peer, None)
        while mine and now - mine[0][0] >= FETCH_WINDOW:
            mine.popleft()
        if mine:
            self._by_peer[peer] = mine  # the most recent last: the oldest are let go first
            while len(self._by_peer) > _PEERS:
                self._by_peer.popitem(last=False)
        return len(mine or ()) >= FETCH_BUDGET or len(self._recent) >= FETCH_BUDGET_ALL

    async def _fetch(self, url: str, peer: str) -> Keys | AuthenticityRefused:
        if self._over_budget(peer):
            if not self._said_over:
                log.warning(
                    "SNS signing certificates: %d fetches from one address (or %d from all) "
                    "brought no good certificate in %d s; no more until the window moves "
                    "(messages naming new certificates get 503)",
                    FETCH_BUDGET,
                    FETCH_BUDGET_ALL,
                    int(FETCH_WINDOW),
                )
                self._said_over = True
            raise CertificateUnavailable(
                "too many signing certificates fetched lately; retry later", provider=_SES
            )
        self._said_over = False
        entry = [self._clock()]  # counted while under way; taken back if the fetch is good
        self._recent.append(entry)
        mine = self._by_peer.setdefault(peer, deque())
        mine.append(entry)
        self.fetches += 1
        keys = await self._get(url)
        if not isinstance(keys, AuthenticityRefused):
            _take_back(self._recent, entry)
            _take_back(mine, entry)
        return keys

    async def _get(self, url: str) -> Keys | AuthenticityRefused:
        try:
            response = await outbound_get(
                url, policy=self._policy, seconds=self._seconds, max_bytes=MAX_PEM_BYTES
            )
        except OutboundRefused:
            return self._refuse(url, "the certificate host resolves to a non-public address")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("SNS signing certificate not fetched: %s", type(exc).__name__)
            raise CertificateUnavailable(
                "the signing certificate could not be fetched; retry later", provider=_SES
            ) from None
        if response.status >= 500:
            log.warning("SNS signing certificate not fetched: HTTP %d", response.status)
            raise CertificateUnavailable(
                "the signing certificate host answered with an error; retry later", provider=_SES
            )
        if response.status != 200:  # a redirect is never followed
            return self._refuse(url, f"the certificate URL answered HTTP {response.status}")
        if response.truncated:
            return self._refuse(url, "the certificate is larger than allowed")
        try:
            keys = certificate_keys(response.body)
            until = _valid_for(response.body)
        except (WebhookConfigError, ValueError):
            return self._refuse(url, "the fetched file is not an RSA certificate valid now")
        self._remember(url, keys, min(until, CACHE_SECONDS))
        log.info("SNS signing certificate fetched")
        return keys

    def _refuse(self, url: str, why: str) -> AuthenticityRefused:
        log.warning("SNS signing certificate refused: %s", why)
        refusal = AuthenticityRefused(Reason.UNKNOWN_CERTIFICATE, why, provider=_SES)
        self._remember(url, refusal, NEGATIVE_SECONDS)
        return refusal


def _take_back(queue: deque[list[float]], entry: list[float]) -> None:
    """Remove ``entry`` itself (not an equal one) from ``queue``, if it is still there."""
    for n, found in enumerate(queue):
        if found is entry:
            del queue[n]
            return


def _valid_for(pem: bytes) -> float:
    """Seconds the (first) certificate stays valid.

    Raises:
        ValueError: not valid now.
    """
    certificate = x509.load_pem_x509_certificates(pem)[0]
    now = dt.datetime.now(dt.UTC)
    if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
        raise ValueError("the certificate is not valid now")
    return (certificate.not_valid_after_utc - now).total_seconds()
