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
import errno
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar, runtime_checkable

from dns.rdatatype import RdataType

from checks.dns.cache import OutcomeCache
from checks.dns.outcome import Answer, DnsOutcome, NoData, NxDomain, Unknown, UnknownReason
from checks.dns.ratelimit import RateLimiter
from checks.dns.wire import (
    DecodedResponse,
    InvalidNameError,
    build_query,
    decode_response,
    encode_question,
    response_matches,
)

__all__ = [
    "BatchDnsClient",
    "DnsClient",
    "Nameserver",
    "ResolverConfig",
    "ResolverStats",
    "StubResolver",
]

_MAX_CNAME_HOPS = 8
_MAX_UDP = 65_535  # the largest datagram a reply can be (EDNS allows more than 512)
_RECEIVE_BUFFER = 1 << 20
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


_K = TypeVar("_K")


@runtime_checkable
class BatchDnsClient(DnsClient, Protocol):
    """A client that can also work through many questions with a window of queries in flight.

    ``on_outcome(key, outcome)`` is called once per question, in completion
    order; the call returns when every question has its outcome.
    """

    async def query_many(
        self,
        questions: Iterable[tuple[_K, str, RdataType, str | None]],
        on_outcome: Callable[[_K, DnsOutcome], None],
        *,
        use_cache: bool = True,
    ) -> None: ...


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
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 0 < int(text) < 65536:
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


class _UdpChannel:
    """One connected, non-blocking UDP socket and the queries waiting on it.

    The socket is read with ``loop.add_reader``: one wake-up drains every datagram
    waiting, and a query goes out with one ``send`` (measured: about 2.5 times less CPU
    per query than asyncio's and uvloop's datagram transports, which pay a callback and
    an address tuple per datagram). Waiting queries are kept in send order with their
    deadlines; one timer per socket expires them, rather than one timer per query.
    """

    def __init__(
        self,
        sock: socket.socket,
        stats: ResolverStats,
        loop: asyncio.AbstractEventLoop,
        tick: float,
    ) -> None:
        self._sock = sock
        # qid -> (lower-cased question, reply callback, deadline); insertion order is deadline order
        self.pending: dict[int, tuple[bytes, Callable[[_Reply], None], float]] = {}
        self.used = 0
        self.retiring = False
        self.closed = False
        self._stats = stats
        self._loop = loop
        self._tick = tick
        self._sweeper: asyncio.TimerHandle | None = None
        self._ids = b""
        self._id_pos = 0
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        recv, pending = self._sock.recv, self.pending
        while not self.closed:
            try:
                data = recv(_MAX_UDP)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # An ICMP error on a connected socket (e.g. port unreachable) concerns
                # the server, not one query: everything waiting on this socket fails
                # over, and the socket is done with. uvloop never calls this reader
                # again after such an error: kept, every later query on it would time
                # out though the server answers again. The pool opens a fresh one.
                self._stats.network_errors += 1
                self.close()
                return
            qid = data[0] << 8 | data[1] if len(data) >= 12 else -1
            entry = pending.get(qid)
            if entry is None or not response_matches(data, qid, entry[0]):
                self._stats.unmatched_replies += 1
                continue
            del pending[qid]
            entry[1](data)
            if self.retiring and not pending:
                self.close()

    def next_id(self) -> int:
        while True:
            if self._id_pos >= len(self._ids):
                self._ids, self._id_pos = os.urandom(2048), 0
            qid = self._ids[self._id_pos] << 8 | self._ids[self._id_pos + 1]
            self._id_pos += 2
            if qid not in self.pending:
                return qid

    def send(
        self, qid: int, wire: bytes, question: bytes, timeout: float
    ) -> asyncio.Future[_Reply]:
        """Send and return a future for the reply (or the reason there is none)."""
        future: asyncio.Future[_Reply] = self._loop.create_future()
        self.send_with_callback(qid, wire, question, timeout, partial(_settle, future))
        return future

    def send_with_callback(
        self,
        qid: int,
        wire: bytes,
        question: bytes,
        timeout: float,
        callback: Callable[[_Reply], None],
    ) -> None:
        """Send; ``callback`` gets the matched reply or an :class:`UnknownReason`, exactly once."""
        self.used += 1
        try:
            self._sock.send(wire)
        except OSError as exc:
            # A full socket buffer, or an ICMP error reported by this send: like a lost
            # datagram, the query fails over (never silently waits for its timeout). After
            # an ICMP error the socket is done with, as in _readable.
            self._stats.network_errors += 1
            self._loop.call_soon(callback, UnknownReason.NETWORK)
            if not isinstance(exc, BlockingIOError) and exc.errno != errno.ENOBUFS:
                self.close()
            return
        self.pending[qid] = (question, callback, self._loop.time() + timeout)
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(self._tick, self._expire)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._fail_all(UnknownReason.NETWORK)

    def _expire(self) -> None:
        self._sweeper = None
        now = self._loop.time()
        expired = []
        for qid, (_question, _future, deadline) in self.pending.items():
            if deadline > now:
                break
            expired.append(qid)
        for qid in expired:
            callback = self.pending.pop(qid)[1]
            self._stats.timeouts += 1
            callback(UnknownReason.TIMEOUT)
        if self.pending:
            self._sweeper = self._loop.call_later(self._tick, self._expire)
        elif self.retiring:
            self.close()

    def _fail_all(self, reason: UnknownReason) -> None:
        waiting, self.pending = self.pending, {}
        for _question, callback, _deadline in waiting.values():
            callback(reason)


def _settle(future: asyncio.Future[_Reply], reply: _Reply) -> None:
    if not future.done():  # a cancelled query's future stays cancelled
        future.set_result(reply)


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

    def ready_channel(self) -> _UdpChannel | None:
        """The next usable channel without awaiting, or None when one must be opened first."""
        if len(self._channels) < self._config.sockets_per_server:
            return None
        index = self._next % len(self._channels)
        chan = self._channels[index]
        if self._worn(chan):
            return None
        self._next += 1
        return chan

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
        tick = max(0.01, min(0.1, self._config.timeout / 5))
        family = socket.AF_INET6 if ":" in self.server.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            # A sweep keeps hundreds of replies in flight per socket: room for a burst.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            sock.connect((self.server.host, self.server.port))  # UDP: no round trip
            return _UdpChannel(sock, self._stats, loop, tick)
        except BaseException:
            sock.close()
            raise

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
        key = name.lower()
        if key.endswith("."):
            key = key[:-1]
        cached = self._cache.get(key, rdtype)
        if cached is not None:
            return cached
        self.stats.queries += 1
        if rate_key is not None and self._limiter.limits(rate_key):
            await self._limiter.acquire(rate_key)
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(self.config.max_in_flight)
        async with self._in_flight:
            outcome = await self._resolve_chain(key, rdtype)
        self._cache.put(key, rdtype, outcome)
        return outcome

    async def query_many(
        self,
        questions: Iterable[tuple[_K, str, RdataType, str | None]],
        on_outcome: Callable[[_K, DnsOutcome], None],
        *,
        use_cache: bool = True,
    ) -> None:
        """Resolve many questions, ``max_in_flight`` at a time, driven by reply callbacks.

        ``use_cache=False`` skips the cache on the fast path, for sweeps that ask
        each name once (the upstream resolver caches anyway).

        The common case (first server, UDP, a NOERROR or NXDOMAIN reply without
        CNAMEs) is handled inside the socket callback with no task or future per
        query. Everything else (timeouts, truncation, CNAMEs, error codes,
        rate-limited keys, worn sockets) goes through :meth:`query`, with its
        retries, failover and TCP fallback.

        Raises:
            Exception: whatever ``on_outcome`` raised; the batch stops.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        pending_questions = iter(questions)
        tasks: set[asyncio.Task[DnsOutcome]] = set()
        cache, stats, limiter = self._cache, self.stats, self._limiter
        timeout, edns, window = self.config.timeout, self.config.edns, self.config.max_in_flight
        in_flight = 0
        exhausted = False

        def emit(key: _K, outcome: DnsOutcome) -> bool:
            try:
                on_outcome(key, outcome)
            except Exception as exc:  # handed to the awaiting caller
                if not done.done():
                    done.set_exception(exc)
                return False
            return True

        pump_due = False

        def finish_one() -> None:
            # The next queries go out once the replies that arrived together are all
            # handled: one burst per wake-up rather than a send per reply, so the server
            # is woken once per burst (on the 2-core benchmark VM a send that wakes an
            # idle NSD cost several times one that finds it busy).
            nonlocal in_flight, pump_due
            in_flight -= 1
            if not pump_due:
                pump_due = True
                loop.call_soon(pump_later)

        def pump_later() -> None:
            nonlocal pump_due
            pump_due = False
            pump()

        def full_path(key: _K, name: str, rdtype: RdataType, rate_key: str | None) -> None:
            task = loop.create_task(self.query(name, rdtype, rate_key=rate_key))
            tasks.add(task)
            task.add_done_callback(partial(full_path_done, key))

        def full_path_done(key: _K, task: asyncio.Task[DnsOutcome]) -> None:
            tasks.discard(task)
            if done.done() or task.cancelled():
                return
            error = task.exception()
            if error is not None:
                done.set_exception(error)
            elif emit(key, task.result()):
                finish_one()

        def on_reply(
            key: _K,
            name: str,
            rdtype: RdataType,
            rate_key: str | None,
            question: bytes,
            data: _Reply,
        ) -> None:
            if done.done():
                return
            reply = data if isinstance(data, UnknownReason) else _decode(data, question, rdtype)
            if (
                isinstance(reply, UnknownReason)
                or reply.truncated
                or reply.cname_chain
                or reply.cname_target is not None
                or reply.referral
                or reply.rcode not in (0, _RCODE_NXDOMAIN)
            ):
                full_path(key, name, rdtype, rate_key)
                return
            outcome: DnsOutcome
            if reply.rcode == _RCODE_NXDOMAIN:
                outcome = NxDomain(name, reply.negative_ttl)
            elif reply.records:
                outcome = Answer(name, rdtype, reply.records, reply.ttl)
            else:
                outcome = NoData(name, rdtype, reply.negative_ttl)
            if use_cache:
                cache.put(name, rdtype, outcome)
            if emit(key, outcome):
                finish_one()

        def pump() -> None:
            nonlocal in_flight, exhausted
            while in_flight < window and not exhausted and not done.done():
                try:
                    key, raw_name, rdtype, rate_key = next(pending_questions)
                except StopIteration:
                    exhausted = True
                    break
                name = raw_name.lower()
                if name.endswith("."):
                    name = name[:-1]
                cached = cache.get(name, rdtype) if use_cache else None
                if cached is not None:
                    if not emit(key, cached):
                        return
                    continue
                in_flight += 1
                chan = self._pools[self._preferred].ready_channel()
                if chan is None or (rate_key is not None and limiter.limits(rate_key)):
                    full_path(key, name, rdtype, rate_key)
                    continue
                try:
                    question = encode_question(name, rdtype)
                except InvalidNameError:
                    in_flight -= 1
                    if not emit(key, Unknown(name, UnknownReason.INVALID_NAME)):
                        return
                    continue
                qid = chan.next_id()
                stats.queries += 1
                stats.sent += 1
                chan.send_with_callback(
                    qid,
                    build_query(qid, question, edns=edns),
                    question,
                    timeout,
                    partial(on_reply, key, name, rdtype, rate_key, question),
                )
            if exhausted and in_flight == 0 and not done.done():
                done.set_result(None)

        await self._pools[self._preferred].channel()  # open the sockets before the first send
        pump()
        try:
            await done
        finally:
            for task in tasks:
                task.cancel()

    async def _resolve_chain(self, name: str, rdtype: RdataType) -> DnsOutcome:
        current, chain = name, list[str]()
        for _ in range(_MAX_CNAME_HOPS):
            reply = await self._exchange(current, rdtype)
            if isinstance(reply, UnknownReason):
                return Unknown(name, reply)
            if reply.cname_chain:
                chain.extend(reply.cname_chain)
            if reply.rcode == _RCODE_NXDOMAIN:
                return NxDomain(name, reply.negative_ttl)
            if reply.records:
                return Answer(name, rdtype, reply.records, reply.ttl, tuple(chain))
            if reply.cname_target is None:
                return NoData(name, rdtype, reply.negative_ttl)
            current = reply.cname_target.lower()
        return Unknown(name, UnknownReason.CNAME_LOOP, f"more than {_MAX_CNAME_HOPS} CNAMEs")

    async def _exchange(self, name: str, rdtype: RdataType) -> DecodedResponse | UnknownReason:
        """Ask the nameservers in turn until one gives a definitive answer (NOERROR/NXDOMAIN)."""
        try:
            question = encode_question(name, rdtype)
        except InvalidNameError:
            return UnknownReason.INVALID_NAME
        pools = self._pools
        count = len(pools)
        start = self._preferred
        edns = self.config.edns
        last = UnknownReason.TIMEOUT
        attempt = 0
        while attempt < self.config.attempts * count:
            index = (start + attempt) % count
            pool = pools[index]
            chan = pool.ready_channel() or await pool.channel()
            qid = chan.next_id()
            self.stats.sent += 1
            data = await chan.send(
                qid, build_query(qid, question, edns=edns), question, self.config.timeout
            )
            if isinstance(data, UnknownReason):
                last = data
                self._preferred = (index + 1) % count  # fail over for later queries too
                attempt += 1
                continue
            reply = _decode(data, question, rdtype)
            if not isinstance(reply, UnknownReason) and reply.truncated:
                self.stats.tcp_fallbacks += 1
                tcp = await self._ask_tcp(
                    pool.server, qid, build_query(qid, question, edns=edns), question
                )
                reply = tcp if isinstance(tcp, UnknownReason) else _decode(tcp, question, rdtype)
                if not isinstance(reply, UnknownReason) and reply.truncated:
                    # Truncated over TCP too: its (empty) answer section is not NODATA.
                    reply = UnknownReason.TRUNCATED
            if isinstance(reply, UnknownReason):
                last = reply
            elif reply.referral:
                last = UnknownReason.REFERRAL  # another nameserver may recurse
            elif reply.rcode in (0, _RCODE_NXDOMAIN):
                return reply
            elif reply.rcode == _RCODE_FORMERR and edns:
                edns = False  # a pre-EDNS server: ask it again without the OPT record
                continue
            else:
                last = _RCODE_REASONS.get(reply.rcode, UnknownReason.BAD_RCODE)
            attempt += 1
        return last

    async def _ask_tcp(self, server: Nameserver, qid: int, wire: bytes, question: bytes) -> _Reply:
        """RFC 7766: repeat a truncated query over TCP with a two-octet length prefix."""
        try:
            async with asyncio.timeout(self.config.timeout):
                reader, writer = await asyncio.open_connection(server.host, server.port)
                try:
                    writer.write(struct.pack("!H", len(wire)) + wire)
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
        if not response_matches(data, qid, question):
            self.stats.unmatched_replies += 1
            return UnknownReason.MALFORMED
        return data


_RCODE_REASONS = {
    _RCODE_FORMERR: UnknownReason.FORMERR,
    _RCODE_SERVFAIL: UnknownReason.SERVFAIL,
    _RCODE_NOTIMP: UnknownReason.NOTIMP,
    _RCODE_REFUSED: UnknownReason.REFUSED,
}


def _decode(data: bytes, question: bytes, rdtype: RdataType) -> DecodedResponse | UnknownReason:
    try:
        return decode_response(data, question, rdtype)
    except (ValueError, IndexError, struct.error):
        return UnknownReason.MALFORMED
