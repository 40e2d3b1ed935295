"""StubResolver against a real NSD on 127.0.0.1: outcomes, failover, TCP, cache, limits."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator

import dns.message
import dns.rrset
import pytest
import uvloop
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver

from checks.dns import (
    Answer,
    Nameserver,
    NoData,
    NxDomain,
    RdataType,
    Unknown,
    UnknownReason,
)

ZONE = "dnsclient.test"


@pytest.fixture
def server(nsd_factory: StartNsd) -> NsdServer:
    many = [f"many IN A 127.0.1.{i}" for i in range(1, 151)]  # > 1232 octets: TC over UDP
    return nsd_factory(
        {
            ZONE: [
                "a 120 IN A 127.0.0.2",
                "a 120 IN A 127.0.0.3",
                "v6 IN AAAA 2001:db8::1",
                'txt IN TXT "v=spf1 " "-all"',
                "alias IN CNAME a",
                "outside IN CNAME b.other.test.",
                "zero 0 IN A 127.0.0.9",
                # A delegation NSD does not serve: a query below it gets a referral.
                "deleg IN NS ns.elsewhere.invalid.",
                *many,
            ],
        },
        broken=["broken.test"],
    )


async def test_a_answer_carries_every_record_and_the_smallest_ttl(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"a.{ZONE}", RdataType.A)
    assert isinstance(outcome, Answer)
    assert sorted(outcome.records) == ["127.0.0.2", "127.0.0.3"]
    assert outcome.ttl == 120


async def test_nxdomain_carries_the_soa_negative_ttl(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"missing.{ZONE}", RdataType.A)
    assert outcome == NxDomain(f"missing.{ZONE}", ttl=60)


async def test_name_without_the_asked_type_is_nodata_not_nxdomain(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"txt.{ZONE}", RdataType.A)
    assert isinstance(outcome, NoData)


async def test_txt_strings_are_joined_without_separator(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"txt.{ZONE}", RdataType.TXT)
    assert isinstance(outcome, Answer)
    assert outcome.records == ("v=spf1 -all",)


async def test_aaaa_answer(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"v6.{ZONE}", RdataType.AAAA)
    assert isinstance(outcome, Answer)
    assert outcome.records == ("2001:db8::1",)


async def test_in_zone_cname_is_followed(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"alias.{ZONE}", RdataType.A)
    assert isinstance(outcome, Answer)
    assert sorted(outcome.records) == ["127.0.0.2", "127.0.0.3"]
    assert outcome.cname_chain == (f"a.{ZONE}",)


async def test_cname_to_another_zone_is_chased_with_a_new_query(
    nsd_factory: StartNsd, server: NsdServer
) -> None:
    # The target zone lives on a second server: the first answers the CNAME only.
    other = nsd_factory({"other.test": ["b IN A 127.0.0.7"]})
    async with stub_resolver(server.address, other.address) as dns:
        outcome = await dns.query(f"outside.{ZONE}", RdataType.A)
    assert isinstance(outcome, Answer)
    assert outcome.records == ("127.0.0.7",)
    assert outcome.cname_chain == ("b.other.test",)


async def test_truncated_udp_answer_is_retried_over_tcp(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"many.{ZONE}", RdataType.A)
        fallbacks = dns.stats.tcp_fallbacks
    assert isinstance(outcome, Answer)
    assert len(outcome.records) == 150
    assert fallbacks == 1


@pytest.mark.parametrize("rdtype", [RdataType.A, RdataType.TXT, RdataType.MX])
async def test_a_referral_is_unknown_never_nodata(server: NsdServer, rdtype: RdataType) -> None:
    # NSD does not recurse: below a delegation it answers NOERROR, no answer, the NS
    # records in the authority section (RFC 2308 §2.2). A list served so would read as
    # "not listed" if that were taken for NODATA.
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query(f"5.113.0.203.deleg.{ZONE}", rdtype)
        many: dict[int, object] = {}
        await dns.query_many(
            [(0, f"6.113.0.203.deleg.{ZONE}", rdtype, None)],
            lambda key, found: many.__setitem__(key, found),
        )
    assert isinstance(outcome, Unknown)
    assert outcome.reason is UnknownReason.REFERRAL
    (found,) = many.values()
    assert isinstance(found, Unknown)
    assert found.reason is UnknownReason.REFERRAL


async def test_zone_not_served_is_unknown_refused(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query("x.not-served.test", RdataType.A)
    assert isinstance(outcome, Unknown)
    assert outcome.reason is UnknownReason.REFUSED


async def test_zone_that_failed_to_load_is_unknown_servfail(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        outcome = await dns.query("x.broken.test", RdataType.A)
    assert isinstance(outcome, Unknown)
    assert outcome.reason is UnknownReason.SERVFAIL


async def test_closed_port_is_unknown_network_not_absent(closed_udp_port: str) -> None:
    async with stub_resolver(closed_udp_port, timeout=2.0, attempts=1) as dns:
        outcome = await dns.query(f"a.{ZONE}", RdataType.A)
    assert isinstance(outcome, Unknown)
    assert outcome.reason is UnknownReason.NETWORK


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_a_resolver_that_comes_back_is_answered_again_on_every_loop(
    server: NsdServer, loop_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    """Queries to a stopped resolver get ICMP port unreachable; once it answers again, so
    must the sockets that saw the error (under uvloop, such a socket was read no more and
    every query after the outage timed out until a restart)."""
    name = f"a.{ZONE}"

    async def outage_and_recovery() -> None:
        async with stub_resolver(server.address, timeout=0.5, attempts=1, cache_entries=0) as dns:
            assert isinstance(await dns.query(name, RdataType.A), Answer)
            server.stop_keeping_port()
            for _ in range(3):
                down = await dns.query(name, RdataType.A)
                assert isinstance(down, Unknown), down  # never an answer, never absent
            await asyncio.to_thread(server.start_again)
            back = [await dns.query(name, RdataType.A) for _ in range(8)]
            assert all(isinstance(outcome, Answer) for outcome in back), back

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(outage_and_recovery())


async def test_silent_server_is_unknown_timeout(silent_udp_port: str) -> None:
    async with stub_resolver(silent_udp_port, timeout=0.2, attempts=2) as dns:
        outcome = await dns.query(f"a.{ZONE}", RdataType.A)
        timeouts = dns.stats.timeouts
    assert isinstance(outcome, Unknown)
    assert outcome.reason is UnknownReason.TIMEOUT
    assert timeouts == 2  # one per attempt: retries happen


async def test_fails_over_to_the_next_nameserver(server: NsdServer, silent_udp_port: str) -> None:
    async with stub_resolver(silent_udp_port, server.address, timeout=0.2) as dns:
        first = await dns.query(f"a.{ZONE}", RdataType.A)
        sent_before = dns.stats.sent
        second = await dns.query(f"v6.{ZONE}", RdataType.AAAA)
        sent_after = dns.stats.sent
    assert isinstance(first, Answer)
    assert isinstance(second, Answer)
    assert sent_after - sent_before == 1  # the dead server is no longer asked first


async def test_refused_by_one_server_is_answered_by_the_next(
    nsd_factory: StartNsd, server: NsdServer
) -> None:
    other = nsd_factory({"unrelated.test": ["x IN A 127.0.0.2"]})
    async with stub_resolver(other.address, server.address) as dns:
        outcome = await dns.query(f"a.{ZONE}", RdataType.A)
    assert isinstance(outcome, Answer)


async def test_answers_and_negative_answers_are_cached_for_their_ttl(server: NsdServer) -> None:
    async with stub_resolver(server.address) as dns:
        await dns.query(f"a.{ZONE}", RdataType.A)
        await dns.query(f"missing.{ZONE}", RdataType.A)
        sent = dns.stats.sent
        again = await dns.query(f"A.{ZONE}.", RdataType.A)  # case and trailing dot ignored
        await dns.query(f"missing.{ZONE}", RdataType.A)
        assert dns.stats.sent == sent
        assert dns.cache_hits == 2
        assert isinstance(again, Answer)


async def test_zero_ttl_and_unknown_outcomes_are_not_cached(
    server: NsdServer, silent_udp_port: str
) -> None:
    async with stub_resolver(server.address) as dns:
        await dns.query(f"zero.{ZONE}", RdataType.A)
        await dns.query(f"zero.{ZONE}", RdataType.A)
        assert dns.stats.sent == 2
    async with stub_resolver(silent_udp_port, timeout=0.1, attempts=1) as dns:
        await dns.query(f"a.{ZONE}", RdataType.A)
        await dns.query(f"a.{ZONE}", RdataType.A)
        assert dns.stats.sent == 2


class _Recorder(asyncio.DatagramProtocol):
    """A loopback UDP endpoint that records what it receives and never answers."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple[str, int]]] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, addr))


@pytest.fixture
async def recorder() -> object:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Recorder, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    yield protocol, f"127.0.0.1:{port}"
    transport.close()


async def test_queries_in_flight_are_bounded(recorder: tuple[_Recorder, str]) -> None:
    protocol, address = recorder
    async with stub_resolver(address, timeout=0.5, attempts=1, max_in_flight=3) as dns:
        tasks = [asyncio.create_task(dns.query(f"n{i}.{ZONE}", RdataType.A)) for i in range(10)]
        await asyncio.sleep(0.2)
        in_flight = len(protocol.received)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert in_flight == 3


async def test_source_ports_and_ids_vary_and_sockets_are_recycled(
    recorder: tuple[_Recorder, str],
) -> None:
    protocol, address = recorder
    async with stub_resolver(
        address, timeout=0.05, attempts=1, sockets_per_server=2, queries_per_socket=3
    ) as dns:
        await asyncio.gather(*(dns.query(f"p{i}.{ZONE}", RdataType.A) for i in range(24)))
    ports = {addr[1] for _data, addr in protocol.received}
    ids = {data[:2] for data, _addr in protocol.received}
    assert len(protocol.received) == 24
    assert len(ports) >= 8  # 24 queries, at most 3 per socket
    assert len(ids) > 20  # random 16-bit IDs; a few collisions across sockets are possible


class _Spoofer(asyncio.DatagramProtocol):
    """Answers every query three times: wrong ID, wrong question, then correctly.

    A stand-in for an off-path attacker racing the real server: NSD cannot be
    made to send a forged reply, so this fault needs a hand-made server.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        wrong_id = dns.message.make_response(query)
        wrong_id.id = (query.id + 1) % 65536
        wrong_id.answer.append(
            dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "6.6.6.6")
        )
        wrong_q = dns.message.make_response(query)
        wrong_q.question[0] = dns.rrset.RRset(
            dns.name.from_text("other.example."), dns.rdataclass.IN, dns.rdatatype.A
        )
        wrong_q.answer.append(dns.rrset.from_text("other.example.", 60, "IN", "A", "6.6.6.6"))
        good = dns.message.make_response(query)
        good.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "127.0.0.2"))
        for message in (wrong_id, wrong_q, good):
            self.transport.sendto(message.to_wire(), addr)  # type: ignore[attr-defined]


@pytest.fixture
async def spoofer() -> Iterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Spoofer, local_addr=("127.0.0.1", 0))
    yield f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    transport.close()


async def test_replies_with_wrong_id_or_question_are_ignored(spoofer: str) -> None:
    async with stub_resolver(spoofer, timeout=1.0) as dns:
        outcome = await dns.query(f"a.{ZONE}", RdataType.A)
        unmatched = dns.stats.unmatched_replies
    assert isinstance(outcome, Answer)
    assert outcome.records == ("127.0.0.2",)
    assert unmatched == 2


async def test_rate_limit_spaces_queries_to_one_key(server: NsdServer) -> None:
    async with stub_resolver(server.address, rate_limits={"slow": 20.0}, cache_entries=0) as dns:
        start = time.monotonic()
        await asyncio.gather(
            *(dns.query(f"a.{ZONE}", RdataType.A, rate_key="slow") for _ in range(6))
        )
        limited = time.monotonic() - start
    # Six queries at 20/s need at least five gaps of 50 ms: a lower bound, not a speed test.
    assert limited >= 0.25


def test_nameserver_parsing_accepts_host_port_and_bracketed_ipv6() -> None:
    assert Nameserver.parse("127.0.0.1") == Nameserver("127.0.0.1", 53)
    assert Nameserver.parse("127.0.0.1:5353") == Nameserver("127.0.0.1", 5353)
    assert Nameserver.parse("[::1]:5353") == Nameserver("::1", 5353)
    assert Nameserver.parse("::1") == Nameserver("::1", 53)
    for bad in ("localhost", "127.0.0.1:0", "127.0.0.1:70000", "[::1", "1.2.3.4:x"):
        with pytest.raises(ValueError, match=r"nameserver|port"):
            Nameserver.parse(bad)


def test_socket_module_is_loopback_only_here() -> None:
    # Guard for this file: every address used above is on 127.0.0.0/8.
    assert socket.inet_aton("127.0.0.1")[0] == 127


async def test_query_many_gives_the_same_outcomes_as_query(
    server: NsdServer, silent_udp_port: str
) -> None:
    names = [
        (f"a.{ZONE}", RdataType.A),  # fast path: answer
        (f"missing.{ZONE}", RdataType.A),  # fast path: NXDOMAIN
        (f"txt.{ZONE}", RdataType.A),  # fast path: NODATA
        (f"txt.{ZONE}", RdataType.TXT),  # full parser
        (f"many.{ZONE}", RdataType.A),  # truncated: full path over TCP
        (f"alias.{ZONE}", RdataType.A),  # CNAME: full path
        ("x.broken.test", RdataType.A),  # SERVFAIL: full path
        ("x.not-served.test", RdataType.A),  # REFUSED: full path
        ("bad..name.test", RdataType.A),  # not encodable
        (f"x.deleg.{ZONE}", RdataType.A),  # a referral: full path
    ]
    expected = {}
    async with stub_resolver(server.address, cache_entries=0) as dns:
        for index, (name, rdtype) in enumerate(names):
            expected[index] = await dns.query(name, rdtype)
    got: dict[int, object] = {}
    async with stub_resolver(server.address, cache_entries=0) as dns:
        await dns.query_many(
            ((i, n, t, None) for i, (n, t) in enumerate(names)),
            lambda key, outcome: got.__setitem__(key, outcome),
        )
        fallbacks = dns.stats.tcp_fallbacks
    assert got == expected
    assert fallbacks == 1


async def test_query_many_keeps_a_bounded_window_in_flight(recorder: tuple[_Recorder, str]) -> None:
    protocol, address = recorder
    async with stub_resolver(address, timeout=0.3, attempts=1, max_in_flight=5) as dns:
        task = asyncio.create_task(
            dns.query_many(((i, f"w{i}.{ZONE}", RdataType.A, None) for i in range(50)), print)
        )
        await asyncio.sleep(0.15)
        in_flight = len(protocol.received)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert in_flight == 5


async def test_query_many_timeouts_fail_over_and_are_unknown_never_absent(
    server: NsdServer, silent_udp_port: str
) -> None:
    got: dict[int, object] = {}
    async with stub_resolver(silent_udp_port, server.address, timeout=0.2) as dns:
        await dns.query_many(
            [(0, f"a.{ZONE}", RdataType.A, None), (1, f"missing.{ZONE}", RdataType.A, None)],
            lambda key, outcome: got.__setitem__(key, outcome),
        )
    assert isinstance(got[0], Answer)
    assert isinstance(got[1], NxDomain)
    got.clear()
    async with stub_resolver(silent_udp_port, timeout=0.1, attempts=1) as dns:
        await dns.query_many(
            [(0, f"a.{ZONE}", RdataType.A, None)],
            lambda key, outcome: got.__setitem__(key, outcome),
        )
    assert isinstance(got[0], Unknown)
    assert got[0].reason is UnknownReason.TIMEOUT


async def test_query_many_raises_what_the_callback_raised(server: NsdServer) -> None:
    def explode(key: int, outcome: object) -> None:
        raise RuntimeError("callback failed")

    async with stub_resolver(server.address) as dns:
        with pytest.raises(RuntimeError, match="callback failed"):
            await dns.query_many([(0, f"a.{ZONE}", RdataType.A, None)], explode)


async def test_query_many_honours_rate_limits(server: NsdServer) -> None:
    async with stub_resolver(server.address, rate_limits={"slow": 20.0}, cache_entries=0) as dns:
        start = time.monotonic()
        await dns.query_many(
            ((i, f"a.{ZONE}", RdataType.A, "slow") for i in range(6)), lambda k, o: None
        )
        limited = time.monotonic() - start
    assert limited >= 0.25  # lower bound: five gaps of 50 ms
