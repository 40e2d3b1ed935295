"""The ``DnsClient`` protocol and ``StubResolver``, its fast UDP implementation.

``StubResolver`` keeps a few connected UDP sockets per nameserver open (the OS
picks a random source port for each; sockets are replaced after a number of
queries so ports keep changing), matches replies on ID *and* question, fails
over between nameservers, retries, falls back to TCP on truncation, caches by
TTL, bounds the queries in flight and rate-limits per key (e.g. per zone).
Failures come back as :class:`Unknown` values, never as exceptions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

from dns.rdatatype import RdataType

from checks.dns.cache import OutcomeCache
from checks.dns.outcome import Answer, DnsOutcome, NoData, NxDomain, Unknown, UnknownReason
from checks.dns.ratelimit import RateLimiter
from checks.dns.wire import (
    DecodedResponse,
    InvalidNameError,
    WireQuery,
    decode_response,
    encode_query,
    response_matches,
)

__all__ = ["DnsClient", "Nameserver", "ResolverConfig", "ResolverStats", "StubResolver"]

_MAX_CNAME_HOPS = 8
_RCODE_FORMERR = 1
_RCODE_SERVFAIL = 2
_RCODE_NXDOMAIN = 3
_RCODE_NOTIMP = 4
_RCODE_REFUSED = 5


class DnsClient(Protocol):
    """What every check needs from DNS: one question, one outcome value."""

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome: ...


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A resolver address; ``parse`` accepts ``host``, ``host:port``, ``[v6]:port``."""

    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """Parse ``host[:port]``.

        Raises:
            ValueError: not an IP address with an optional port in 1-65535.
        """
        text = text.strip()
        host, port = text, 53
        if text.startswith("["):
            close = text.find("]")
            if close < 0:
                raise ValueError(f"unclosed '[' in nameserver {text!r}")
            host, rest = text[1:close], text[close + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"expected ':port' after ']' in {text!r}")
                port = _parse_port(rest[1:], text)
        elif text.count(":") == 1:
            host, port_text = text.split(":")
            port = _parse_port(port_text, text)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"nameserver must be an IP address, got {text!r}") from None
        return cls(host, port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _parse_port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port in nameserver {whole!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class ResolverConfig:
    """Tuning of a :class:`StubResolver`. ``attempts`` is rounds over all nameservers."""

    nameservers: tuple[Nameserver, ...]
    timeout: float = 2.0
    attempts: int = 2
    max_in_flight: int = 512
    sockets_per_server: int = 4
    queries_per_socket: int = 50_000
    cache_entries: int = 100_000
    max_cache_ttl: int = 3600
    rate_limits: Mapping[str, float] = field(default_factory=dict)
    edns: bool = True

    def __post_init__(self) -> None:
        if not self.nameservers:
            raise ValueError("at least one nameserver is required")
        if self.timeout <= 0 or self.attempts < 1 or self.max_in_flight < 1:
            raise ValueError("timeout, attempts and max_in_flight must be positive")
        if self.sockets_per_server < 1 or self.queries_per_socket < 1:
            raise ValueError("sockets_per_server and queries_per_socket must be positive")


@dataclass(slots=True)
class ResolverStats:
    """Counters for metrics and benchmarks."""

    queries: int = 0
    sent: int = 0
    timeouts: int = 0
    unmatched_replies: int = 0
    tcp_fallbacks: int = 0
    network_errors: int = 0


_Reply = bytes | UnknownReason


class _Pending:
    __slots__ = ("future", "question", "timer")

    def __init__(self, question: bytes, future: asyncio.Future[_Reply]) -> None:
        self.question = question
        self.future = future
        self.timer: asyncio.TimerHandle | None = None


class _UdpChannel(asyncio.DatagramProtocol):
    """One connected UDP socket and the queries waiting on it."""

    def __init__(self, stats: ResolverStats) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, _Pending] = {}
        self.used = 0
        self.retiring = False
        self.closed = False
        self._stats = stats
        self._ids = b""
        self._id_pos = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not a subclass of asyncio.DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        pending = self.pending.get(data[0] << 8 | data[1]) if len(data) >= 12 else None
        if pending is None or not response_matches(data, data[0] << 8 | data[1], pending.question):
            self._stats.unmatched_replies += 1
            return
        del self.pending[data[0] << 8 | data[1]]
        self._settle(pending, data)
        if self.retiring and not self.pending:
            self.close()

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on a connected socket (e.g. port unreachable) concern the
        # server, not one query: everything waiting on this socket fails over.
        self._stats.network_errors += 1
        self._fail_all(UnknownReason.NETWORK)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_all(UnknownReason.NETWORK)

    def next_id(self) -> int:
        while True:
            if self._id_pos >= len(self._ids):
                self._ids, self._id_pos = os.urandom(2048), 0
            qid = self._ids[self._id_pos] << 8 | self._ids[self._id_pos + 1]
            self._id_pos += 2
            if qid not in self.pending:
                return qid

    def send(
        self, loop: asyncio.AbstractEventLoop, qid: int, query: WireQuery, timeout: float
    ) -> asyncio.Future[_Reply]:
        future: asyncio.Future[_Reply] = loop.create_future()
        pending = _Pending(query.question, future)
        pending.timer = loop.call_later(timeout, self._expire, qid, pending)
        self.pending[qid] = pending
        self.used += 1
        assert self.transport is not None
        self.transport.sendto(query.wire)
        return future

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    def _expire(self, qid: int, pending: _Pending) -> None:
        if self.pending.get(qid) is pending:
            del self.pending[qid]
        self._stats.timeouts += 1
        if not pending.future.done():
            pending.future.set_result(UnknownReason.TIMEOUT)
        if self.retiring and not self.pending:
            self.close()

    def _settle(self, pending: _Pending, reply: _Reply) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_result(reply)

    def _fail_all(self, reason: UnknownReason) -> None:
        waiting, self.pending = self.pending, {}
        for pending in waiting.values():
            self._settle(pending, reason)


class _ServerPool:
    """The UDP channels to one nameserver, replaced after ``queries_per_socket`` uses."""

    def __init__(self, server: Nameserver, config: ResolverConfig, stats: ResolverStats) -> None:
        self.server = server
        self._config = config
        self._stats = stats
        self._channels: list[_UdpChannel] = []
        self._retired: list[_UdpChannel] = []  # replaced, closing once their replies are in
        self._next = 0
        self._lock = asyncio.Lock()

    async def channel(self) -> _UdpChannel:
        if len(self._channels) < self._config.sockets_per_server:
            async with self._lock:
                while len(self._channels) < self._config.sockets_per_server:
                    self._channels.append(await self._open())
        index = self._next % len(self._channels)
        self._next += 1
        chan = self._channels[index]
        if self._worn(chan):
            async with self._lock:  # one replacement per slot, however many callers race
                chan = self._channels[index]
                if self._worn(chan):
                    self._retire(chan)
                    chan = await self._open()
                    self._channels[index] = chan
        return chan

    def _worn(self, chan: _UdpChannel) -> bool:
        return chan.closed or chan.used >= self._config.queries_per_socket

    def _retire(self, chan: _UdpChannel) -> None:
        chan.retiring = True
        if chan.pending:
            self._retired = [c for c in self._retired if not c.closed]
            self._retired.append(chan)
        else:
            chan.close()

    async def _open(self) -> _UdpChannel:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _UdpChannel(self._stats), remote_addr=(self.server.host, self.server.port)
        )
        protocol.transport = transport  # uvloop may call connection_made only later
        return protocol

    def close(self) -> None:
        for chan in self._channels + self._retired:
            chan.close()
        self._channels.clear()
        self._retired.clear()


class StubResolver:
    """A :class:`DnsClient` that asks recursive resolvers (or, in tests, an authoritative server).

    Use as ``async with StubResolver(config) as dns: ...`` inside a running loop.
    """

    def __init__(self, config: ResolverConfig) -> None:
        self.config = config
        self.stats = ResolverStats()
        self._cache = OutcomeCache(
            max_entries=config.cache_entries, max_ttl=config.max_cache_ttl, clock=time.monotonic
        )
        self._limiter = RateLimiter(config.rate_limits, clock=time.monotonic)
        self._pools = [_ServerPool(ns, config, self.stats) for ns in config.nameservers]
        self._preferred = 0
        self._in_flight: asyncio.Semaphore | None = None

    @property
    def cache_hits(self) -> int:
        return self._cache.hits

    async def __aenter__(self) -> StubResolver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for pool in self._pools:
            pool.close()

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome:
        """Resolve ``name``/``rdtype``, following CNAMEs (at most 8 hops)."""
        key = name.rstrip(".").lower()
        cached = self._cache.get(key, rdtype)
        if cached is not None:
            return cached
        self.stats.queries += 1
        if rate_key is not None:
            await self._limiter.acquire(rate_key)
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(self.config.max_in_flight)
        async with self._in_flight:
            outcome = await self._resolve_chain(key, rdtype)
        self._cache.put(key, rdtype, outcome)
        return outcome

    async def _resolve_chain(self, name: str, rdtype: RdataType) -> DnsOutcome:
        current, chain = name, list[str]()
        for _ in range(_MAX_CNAME_HOPS):
            reply = await self._resolve(current, rdtype)
            if isinstance(reply, UnknownReason):
                return Unknown(name, reply)
            chain.extend(reply.cname_chain)
            if reply.rcode == _RCODE_NXDOMAIN:
                return NxDomain(name, reply.negative_ttl)
            if reply.records:
                return Answer(name, rdtype, reply.records, reply.ttl, tuple(chain))
            if reply.cname_target is None:
                return NoData(name, rdtype, reply.negative_ttl)
            current = reply.cname_target.lower()
        return Unknown(name, UnknownReason.CNAME_LOOP, f"more than {_MAX_CNAME_HOPS} CNAMEs")

    async def _resolve(self, name: str, rdtype: RdataType) -> DecodedResponse | UnknownReason:
        """Ask the nameservers in turn until one gives a definitive answer."""
        count = len(self._pools)
        start = self._preferred
        last = UnknownReason.TIMEOUT
        for attempt in range(self.config.attempts * count):
            index = (start + attempt) % count
            reply = await self._ask(self._pools[index], name, rdtype, edns=self.config.edns)
            if isinstance(reply, UnknownReason):
                if reply is UnknownReason.INVALID_NAME:
                    return reply
                last = reply
                if reply in (UnknownReason.TIMEOUT, UnknownReason.NETWORK):
                    self._preferred = (index + 1) % count  # fail over for later queries too
                continue
            if reply.rcode in (0, _RCODE_NXDOMAIN):
                return reply
            last = _RCODE_REASONS.get(reply.rcode, UnknownReason.BAD_RCODE)
        return last

    async def _ask(
        self, pool: _ServerPool, name: str, rdtype: RdataType, *, edns: bool
    ) -> DecodedResponse | UnknownReason:
        chan = await pool.channel()
        qid = chan.next_id()
        try:
            query = encode_query(qid, name, rdtype, edns=edns)
        except InvalidNameError:
            return UnknownReason.INVALID_NAME
        self.stats.sent += 1
        data = await chan.send(asyncio.get_running_loop(), qid, query, self.config.timeout)
        if isinstance(data, UnknownReason):
            return data
        decoded = _decode(data, query, rdtype)
        if isinstance(decoded, DecodedResponse) and decoded.truncated:
            self.stats.tcp_fallbacks += 1
            tcp_data = await self._ask_tcp(pool.server, qid, query)
            if isinstance(tcp_data, UnknownReason):
                return tcp_data
            decoded = _decode(tcp_data, query, rdtype)
        if isinstance(decoded, DecodedResponse) and decoded.rcode == _RCODE_FORMERR and edns:
            return await self._ask(pool, name, rdtype, edns=False)  # pre-EDNS server
        return decoded

    async def _ask_tcp(self, server: Nameserver, qid: int, query: WireQuery) -> _Reply:
        """RFC 7766: repeat a truncated query over TCP with a two-octet length prefix."""
        try:
            async with asyncio.timeout(self.config.timeout):
                reader, writer = await asyncio.open_connection(server.host, server.port)
                try:
                    writer.write(struct.pack("!H", len(query.wire)) + query.wire)
                    await writer.drain()
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    data = await reader.readexactly(size)
                finally:
                    writer.close()
        except TimeoutError:
            self.stats.timeouts += 1
            return UnknownReason.TIMEOUT
        except (OSError, asyncio.IncompleteReadError):
            self.stats.network_errors += 1
            return UnknownReason.NETWORK
        if not response_matches(data, qid, query.question):
            self.stats.unmatched_replies += 1
            return UnknownReason.MALFORMED
        return data


_RCODE_REASONS = {
    _RCODE_FORMERR: UnknownReason.FORMERR,
    _RCODE_SERVFAIL: UnknownReason.SERVFAIL,
    _RCODE_NOTIMP: UnknownReason.NOTIMP,
    _RCODE_REFUSED: UnknownReason.REFUSED,
}


def _decode(data: bytes, query: WireQuery, rdtype: RdataType) -> DecodedResponse | UnknownReason:
    try:
        return decode_response(data, query.question, rdtype)
    except (ValueError, IndexError, struct.error):
        return UnknownReason.MALFORMED
