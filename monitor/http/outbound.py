"""Requests the daemon makes because a payload named a URL (an SNS SubscribeURL, an SNS
SigningCertURL): they may reach only the public Internet.

The URL itself is validated by its parser (``monitor.ingest.webhooks.sns``: https, the
topic's SNS host, no port, userinfo or odd characters). What the name resolves to is
checked here, before any connection: every address must be public (``is_public_address``);
a name resolving to loopback, private, link-local (cloud metadata at 169.254.169.254),
shared or reserved space is refused. IP literals never reach the resolver, so
``outbound_get`` refuses them outright. Redirects are never followed, proxies from the
environment are not used, and answers are size- and time-limited.

Tests inject the resolver (a name they serve on loopback), the TLS trust anchor and, for
the one test that must connect to its own server, ``allow`` networks; production passes
none of them.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.model.errors import MonitorError
from monitor.model.hosts import is_public_address

__all__ = [
    "GuardedResolver",
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundResponse",
    "outbound_get",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(MonitorError, OSError):  # noqa: N818 - a refusal; OSError for aiohttp
    """A request refused before any connection: the host is an IP literal, or its name
    resolves to an address that is not public. The message names no address."""


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (aiohttp's default) and refuses non-public answers."""

    def __init__(self, inner: AbstractResolver | None = None, *, allow: Sequence[Network] = ()):
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()
        self._allow = tuple(allow)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = ipaddress.ip_address(result["host"])
            if not is_public_address(address) and not any(address in n for n in self._allow):
                raise OutboundRefused(f"{host} resolves to a non-public address: refused")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """How outbound requests connect. The defaults are production's."""

    resolver: AbstractResolver | None = None  # None: the system's (aiohttp's default)
    ssl_context: ssl.SSLContext | None = None  # None: the system's trust store
    allow: tuple[Network, ...] = field(default=())  # non-public networks allowed (tests only)


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status: int
    body: bytes
    truncated: bool  # more than ``max_bytes`` were offered


async def outbound_get(
    url: str, *, policy: OutboundPolicy, seconds: float, max_bytes: int
) -> OutboundResponse:
    """GET ``url`` once: no redirects, no proxy, at most ``seconds`` and ``max_bytes``.

    Raises:
        OutboundRefused: an IP-literal host, or a name resolving to a non-public address.
        aiohttp.ClientError, TimeoutError: no answer.
    """
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise OutboundRefused("an IP-literal host is refused")
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(policy.resolver, allow=policy.allow),
        ssl=policy.ssl_context if policy.ssl_context is not None else True,
        use_dns_cache=False,
    )
    try:
        return await _get(url, connector, seconds, max_bytes)
    except aiohttp.ClientConnectorError as exc:
        # aiohttp wraps what the resolver raised; the refusal is not a network failure.
        if isinstance(exc.os_error, OutboundRefused):
            raise exc.os_error from None
        raise


async def _get(
    url: str, connector: aiohttp.TCPConnector, seconds: float, max_bytes: int
) -> OutboundResponse:
    async with (
        aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=seconds),
            trust_env=False,
        ) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                break  # the rest is never read
        body = b"".join(chunks)
        return OutboundResponse(response.status, body[:max_bytes], size > max_bytes)
