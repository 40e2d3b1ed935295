"""A misbehaving DNS peer for fault tests: a UDP and TCP proxy on 127.0.0.1 in front of the
real NSD, which forwards every query to NSD unless told to misbehave.

This is the one place the DNS tests use a stand-in, for faults a correct server does not
produce on demand: stopping mid-sweep, answering late, SERVFAIL for one zone, truncating
over UDP *and* TCP, answering another question.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode

HOST = "127.0.0.1"


@dataclass
class DnsProxy:
    """``mode``: pass, drop, slow, truncate, wrong_question. ``drop_after``: answer that
    many queries, then none (the server stops mid-sweep). ``servfail_zone``: SERVFAIL for
    names under it, whatever the mode."""

    upstream: tuple[str, int]
    mode: str = "pass"
    delay: float = 2.0
    drop_after: int | None = None
    servfail_zone: str | None = None
    queries: int = 0
    tcp_queries: int = 0
    port: int = 0
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    async def start(self) -> DnsProxy:
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._serve_tcp, HOST, 0)
        self.port = self._tcp.sockets[0].getsockname()[1]
        proxy = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                task = loop.create_task(proxy._reply_udp(self.transport, data, addr))  # type: ignore[arg-type]
                proxy._tasks.add(task)
                task.add_done_callback(proxy._tasks.discard)

        transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=(HOST, self.port))
        self._udp = transport  # type: ignore[assignment]
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def _reply_udp(
        self, transport: asyncio.DatagramTransport, data: bytes, addr: tuple[str, int]
    ) -> None:
        answer = await self._answer(data, tcp=False)
        if answer is not None:
            transport.sendto(answer, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            answer = await self._answer(await reader.readexactly(size), tcp=True)
            if answer is not None:
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, wire: bytes, *, tcp: bool) -> bytes | None:
        self.queries += 1
        self.tcp_queries += tcp
        query = dns.message.from_wire(wire)
        if self.mode == "drop" or (self.drop_after is not None and self.queries > self.drop_after):
            return None
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        name = query.question[0].name
        if self.servfail_zone and name.is_subdomain(dns.name.from_text(self.servfail_zone)):
            failed = dns.message.make_response(query)
            failed.set_rcode(dns.rcode.SERVFAIL)
            return failed.to_wire()
        if self.mode == "truncate":  # over UDP and over TCP alike: never a whole answer
            cut = dns.message.make_response(query)
            cut.flags |= dns.flags.TC
            return cut.to_wire()
        if self.mode == "wrong_question":
            other = dns.message.make_query("2.0.0.127.other.example.", "A")
            other.id = query.id
            wrong = dns.message.make_response(other)
            return wrong.to_wire()
        response = await dns.asyncquery.tcp(
            query, self.upstream[0], port=self.upstream[1], timeout=2.0
        )
        return response.to_wire()
