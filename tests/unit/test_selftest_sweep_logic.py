"""Pins the orchestration logic of zone self-tests and sweeps (checks/dnsbl/{selftest,sweep}.py).

These are unit tests of pure orchestration (which names are asked, in which order, and how
outcomes become verdicts), so they use a tiny in-memory DnsClient: a dict from
(name, type) to outcome, NXDOMAIN otherwise. The real resolver is tested against NSD in
tests/integration.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping

import pytest

from checks.dns.outcome import (
    Answer,
    DnsOutcome,
    NxDomain,
    RdataType,
    Unknown,
    UnknownReason,
)
from checks.dnsbl.catalogue import ZoneSpec, load_catalogue
from checks.dnsbl.selftest import (
    REASON_LISTS_EVERYTHING,
    REASON_TEST_POINT_NOT_LISTED,
    Family,
    ZoneHealth,
    self_test_zone,
)
from checks.dnsbl.sweep import DnsblPolicy, check_dnsbl, sweep_dnsbl
from checks.dnsbl.targets import Target, parse_target
from checks.dnsbl.verdict import Verdict

CATALOGUE = load_catalogue()


def zone(zone_id: str) -> ZoneSpec:
    spec = CATALOGUE.get(zone_id)
    assert spec is not None, zone_id
    return spec


ZEN = zone("zen.spamhaus.org")  # IPv4 + IPv6
SPAMCOP = zone("bl.spamcop.net")  # IPv4 only
MAILSPIKE = zone("bl.mailspike.net")  # IPv4 only, exact codes
DBL = zone("dbl.spamhaus.org")  # domain
URIBL = zone("multi.uribl.com")  # domain, bitmask
ALL_ZONES = (SPAMCOP, ZEN, DBL, MAILSPIKE, URIBL)


class FakeDns:
    """In-memory DnsClient: answers from a dict, NXDOMAIN for anything else; records queries."""

    def __init__(
        self,
        outcomes: Mapping[tuple[str, RdataType], DnsOutcome] | None = None,
        *,
        yields: Mapping[str, int] | None = None,
    ) -> None:
        self.outcomes = dict(outcomes or {})
        self.yields = dict(yields or {})  # zone suffix -> event-loop turns before answering
        self.asked: list[tuple[str, RdataType, str | None]] = []

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome:
        self.asked.append((name, rdtype, rate_key))
        for suffix, turns in self.yields.items():
            if name.endswith(suffix):
                for _ in range(turns):
                    await asyncio.sleep(0)
        return self.outcomes.get((name, rdtype), NxDomain(name, 300))

    def names(self, rdtype: RdataType = RdataType.A) -> list[str]:
        return [name for name, t, _ in self.asked if t == rdtype]


def v4_name(ip: str, query_zone: str) -> str:
    return f"{'.'.join(reversed(ip.split('.')))}.{query_zone}"


def v6_name(ip: str, query_zone: str) -> str:
    nibbles = ipaddress.IPv6Address(ip).exploded.replace(":", "")
    return f"{'.'.join(reversed(nibbles))}.{query_zone}"


def listed(name: str, *codes: str) -> dict[tuple[str, RdataType], DnsOutcome]:
    return {(name, RdataType.A): Answer(name, RdataType.A, codes or ("127.0.0.2",), 300)}


# --- self_test_zone ------------------------------------------------------------------------


async def test_self_test_healthy_ipv4_and_unhealthy_ipv6_are_reported_separately() -> None:
    fake = FakeDns(listed(v4_name("127.0.0.2", ZEN.query_zone)))
    health = {h.family: h for h in await self_test_zone(ZEN, dns=fake)}
    assert set(health) == {Family.IPV4, Family.IPV6}
    assert health[Family.IPV4].healthy
    assert health[Family.IPV4].reason is None
    assert not health[Family.IPV6].healthy
    assert health[Family.IPV6].reason == REASON_TEST_POINT_NOT_LISTED
    assert health[Family.IPV6].test_point == "::ffff:7f00:2"


async def test_self_test_asks_ipv6_test_points_as_nibbles() -> None:
    fake = FakeDns()
    await self_test_zone(ZEN, dns=fake)
    assert v6_name("::ffff:7f00:2", ZEN.query_zone) in fake.names()
    assert v6_name("::ffff:7f00:1", ZEN.query_zone) in fake.names()
    assert all(rate_key == ZEN.id for _, _, rate_key in fake.asked)


async def test_self_test_of_ipv4_only_zone_gives_one_ipv4_health() -> None:
    fake = FakeDns(listed(v4_name("127.0.0.2", SPAMCOP.query_zone)))
    (health,) = await self_test_zone(SPAMCOP, dns=fake)
    assert health == ZoneHealth(SPAMCOP.id, Family.IPV4, True)
    assert sorted(fake.names()) == sorted(
        [v4_name("127.0.0.1", SPAMCOP.query_zone), v4_name("127.0.0.2", SPAMCOP.query_zone)]
    )


async def test_self_test_zone_listing_127_0_0_1_lists_everything() -> None:
    fake = FakeDns(
        {
            **listed(v4_name("127.0.0.2", SPAMCOP.query_zone)),
            **listed(v4_name("127.0.0.1", SPAMCOP.query_zone)),
        }
    )
    (health,) = await self_test_zone(SPAMCOP, dns=fake)
    assert not health.healthy
    assert health.reason == REASON_LISTS_EVERYTHING
    assert health.test_point == "127.0.0.1"


async def test_self_test_unlisted_test_point_is_test_point_not_listed() -> None:
    (health,) = await self_test_zone(SPAMCOP, dns=FakeDns())
    assert not health.healthy
    assert health.reason == REASON_TEST_POINT_NOT_LISTED
    assert health.test_point == "127.0.0.2"


@pytest.mark.parametrize(
    "reason",
    [UnknownReason.TIMEOUT, UnknownReason.SERVFAIL, UnknownReason.REFUSED],
    ids=["timeout", "servfail", "refused"],
)
async def test_self_test_unknown_answer_makes_the_error_the_reason(reason: UnknownReason) -> None:
    name = v4_name("127.0.0.2", SPAMCOP.query_zone)
    (health,) = await self_test_zone(
        SPAMCOP, dns=FakeDns({(name, RdataType.A): Unknown(name, reason)})
    )
    assert not health.healthy
    assert health.reason == reason.value
    assert health.test_point == "127.0.0.2"


async def test_self_test_list_error_code_makes_its_reason_the_reason() -> None:
    fake = FakeDns(listed(v4_name("127.0.0.2", ZEN.query_zone), "127.255.255.254"))
    health = {h.family: h for h in await self_test_zone(ZEN, dns=fake)}
    assert health[Family.IPV4].reason == "public_resolver"


async def test_self_test_domain_zone_uses_domain_test_points() -> None:
    fake = FakeDns(listed(f"dbltest.com.{DBL.query_zone}", "127.0.1.2"))
    (health,) = await self_test_zone(DBL, dns=fake)
    assert health == ZoneHealth(DBL.id, Family.DOMAIN, True)
    assert sorted(fake.names()) == sorted(
        [f"dbltest.com.{DBL.query_zone}", f"invalid.{DBL.query_zone}"]
    )


# --- sweep_dnsbl: which zones are asked ----------------------------------------------------


def zones_asked(fake: FakeDns) -> set[str]:
    asked = set()
    for name in fake.names():
        for spec in ALL_ZONES:
            if name.endswith("." + spec.query_zone):
                asked.add(spec.id)
    return asked


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("192.0.2.1", {SPAMCOP.id, ZEN.id, MAILSPIKE.id}),
        ("2001:db8::1", {ZEN.id}),
        ("::ffff:192.0.2.1", {SPAMCOP.id, ZEN.id, MAILSPIKE.id}),
        ("www.example.com", {DBL.id, URIBL.id}),
    ],
    ids=["ipv4-ip-zones-only", "ipv6-ipv6-zones-only", "ipv4-mapped-as-ipv4", "domain-zones-only"],
)
async def test_sweep_asks_only_applicable_zones(target: str, expected: set[str]) -> None:
    fake = FakeDns()
    (result,) = await sweep_dnsbl([parse_target(target)], dns=fake, policy=DnsblPolicy(ALL_ZONES))
    assert zones_asked(fake) == expected
    assert {r.zone for r in result.results} == expected
    assert len(fake.asked) == len(expected)


async def test_sweep_queries_ip_label_and_registered_domain() -> None:
    fake = FakeDns()
    targets = [parse_target("192.0.2.1"), parse_target("www.example.co.uk")]
    await sweep_dnsbl(targets, dns=fake, policy=DnsblPolicy((SPAMCOP, DBL)))
    assert sorted(fake.names()) == sorted(
        ["1.2.0.192.bl.spamcop.net", "example.co.uk.dbl.spamhaus.org"]
    )
    assert {(name, key) for name, _, key in fake.asked} == {
        ("1.2.0.192.bl.spamcop.net", SPAMCOP.id),
        ("example.co.uk.dbl.spamhaus.org", DBL.id),
    }


async def test_sweep_unhealthy_zone_family_gives_zone_unhealthy_without_query() -> None:
    fake = FakeDns()
    policy = DnsblPolicy.with_health(
        (SPAMCOP, ZEN),
        [
            ZoneHealth(ZEN.id, Family.IPV4, False, REASON_TEST_POINT_NOT_LISTED, "127.0.0.2"),
            ZoneHealth(ZEN.id, Family.IPV6, True),
            ZoneHealth(SPAMCOP.id, Family.IPV4, True),
        ],
    )
    v4, v6 = await sweep_dnsbl(
        [parse_target("192.0.2.1"), parse_target("2001:db8::1")], dns=fake, policy=policy
    )
    by_zone = {r.zone: r for r in v4.results}
    assert by_zone[ZEN.id].verdict is Verdict.UNKNOWN
    assert by_zone[ZEN.id].error == "zone_unhealthy"
    assert by_zone[SPAMCOP.id].verdict is Verdict.NOT_LISTED
    assert [f.code for f in v4.findings] == ["dnsbl.zone_unhealthy"]
    # the IPv4 failure does not condemn ZEN's IPv6 results
    assert [(r.zone, r.verdict) for r in v6.results] == [(ZEN.id, Verdict.NOT_LISTED)]
    assert v4_name("192.0.2.1", ZEN.query_zone) not in fake.names()
    assert v6_name("2001:db8::1", ZEN.query_zone) in fake.names()


@pytest.mark.parametrize("concurrency", [1, 3, 512], ids=["one-worker", "three", "default"])
async def test_sweep_results_keep_policy_zone_order(concurrency: int) -> None:
    # Earlier zones answer later, so completion order is the reverse of policy order.
    fake = FakeDns(yields={SPAMCOP.query_zone: 6, ZEN.query_zone: 3})
    targets = [parse_target(f"192.0.2.{i}") for i in range(1, 6)]
    results = await sweep_dnsbl(
        targets, dns=fake, policy=DnsblPolicy((SPAMCOP, ZEN, MAILSPIKE)), concurrency=concurrency
    )
    assert [r.target for r in results] == targets
    for result in results:
        assert [r.zone for r in result.results] == [SPAMCOP.id, ZEN.id, MAILSPIKE.id]


async def test_sweep_asks_txt_only_for_listed_results_at_the_same_name() -> None:
    listed_name = v4_name("192.0.2.1", ZEN.query_zone)
    txt = Answer(listed_name, RdataType.TXT, ("https://check.spamhaus.org/sbl/query/SBL1",), 300)
    fake = FakeDns({**listed(listed_name), (listed_name, RdataType.TXT): txt})
    (result,) = await sweep_dnsbl(
        [parse_target("192.0.2.1")], dns=fake, policy=DnsblPolicy((SPAMCOP, ZEN, MAILSPIKE))
    )
    assert fake.names(RdataType.TXT) == [listed_name]
    by_zone = {r.zone: r for r in result.results}
    assert by_zone[ZEN.id].verdict is Verdict.LISTED
    assert by_zone[ZEN.id].reason == "https://check.spamhaus.org/sbl/query/SBL1"
    assert by_zone[SPAMCOP.id].reason is None
    assert [f.code for f in result.findings] == ["dnsbl.listed"]


async def test_sweep_listed_without_txt_keeps_reason_none() -> None:
    listed_name = v4_name("192.0.2.1", SPAMCOP.query_zone)
    fake = FakeDns(listed(listed_name))
    (result,) = await sweep_dnsbl(
        [parse_target("192.0.2.1")], dns=fake, policy=DnsblPolicy((SPAMCOP,))
    )
    (only,) = result.results
    assert only.verdict is Verdict.LISTED
    assert only.reason is None


async def test_sweep_does_not_ask_txt_for_unknown_results() -> None:
    name = v4_name("192.0.2.1", ZEN.query_zone)
    fake = FakeDns(listed(name, "127.255.255.254"))
    await sweep_dnsbl([parse_target("192.0.2.1")], dns=fake, policy=DnsblPolicy((ZEN,)))
    assert fake.names(RdataType.TXT) == []


async def test_sweep_reason_is_truncated_and_free_of_control_characters() -> None:
    name = v4_name("192.0.2.1", SPAMCOP.query_zone)
    records = ("Listed\x1b[31m by\r\ntrap\x00 hits\x7f" + "x" * 1000, "second")
    fake = FakeDns(
        {**listed(name), (name, RdataType.TXT): Answer(name, RdataType.TXT, records, 60)}
    )
    (result,) = await sweep_dnsbl(
        [parse_target("192.0.2.1")], dns=fake, policy=DnsblPolicy((SPAMCOP,))
    )
    reason = result.results[0].reason
    assert reason is not None
    assert reason.startswith("Listed")
    assert len(reason) <= 300
    assert all(ch.isprintable() for ch in reason)


async def test_sweep_progress_callback_sums_to_the_number_of_verdicts() -> None:
    calls: list[int] = []
    targets = [parse_target(t) for t in ("192.0.2.1", "2001:db8::1", "example.com", "192.0.2.2")]
    policy = DnsblPolicy.with_health(
        ALL_ZONES, [ZoneHealth(SPAMCOP.id, Family.IPV4, False, REASON_LISTS_EVERYTHING)]
    )
    results = await sweep_dnsbl(
        targets, dns=FakeDns(), policy=policy, concurrency=2, progress=calls.append
    )
    verdicts = sum(len(r.results) for r in results)
    assert verdicts == 3 + 1 + 2 + 3
    assert sum(calls) == verdicts


async def test_sweep_of_no_targets_returns_nothing() -> None:
    fake = FakeDns()
    assert await sweep_dnsbl([], dns=fake, policy=DnsblPolicy(ALL_ZONES)) == []
    assert fake.asked == []


async def test_check_dnsbl_is_a_sweep_of_one_target() -> None:
    target: Target = parse_target("192.0.2.1")
    fake = FakeDns(listed(v4_name("192.0.2.1", MAILSPIKE.query_zone), "127.0.0.12"))
    result = await check_dnsbl(target, dns=fake, policy=DnsblPolicy((SPAMCOP, MAILSPIKE)))
    assert result.target == target
    assert [(r.zone, r.verdict) for r in result.results] == [
        (SPAMCOP.id, Verdict.NOT_LISTED),
        (MAILSPIKE.id, Verdict.LISTED),
    ]
    assert [f.code for f in result.findings] == ["dnsbl.listed"]
