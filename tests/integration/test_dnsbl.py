"""DNSBL verdicts end to end: real NSD zones named like the real lists, served on 127.0.0.1.

Serving ``zen.spamhaus.org`` etc. from a local NSD exercises the bundled
catalogue's entries exactly as in production, with no query leaving the host.
"""

from __future__ import annotations

import ipaddress
import logging

import pytest
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver

from checks.dnsbl import (
    DnsblPolicy,
    DnsblResult,
    Family,
    Verdict,
    ZoneSpec,
    generic_zone,
    load_catalogue,
    parse_target,
    self_test_zone,
    sweep_dnsbl,
)
from checks.dnsbl.targets import ip_query_label

CATALOGUE = load_catalogue()
V6_LISTED = "2001:db8::dead"


def _v6_label(address: str) -> str:
    return ip_query_label(ipaddress.IPv6Address(address))


ZEN = [
    "2.0.0.127 IN A 127.0.0.2",
    "2.0.0.127 IN A 127.0.0.4",
    "2.0.0.127 IN A 127.0.0.10",
    '2.0.0.127 IN TXT "test point"',
    f"{_v6_label('::ffff:127.0.0.2')} IN A 127.0.0.2",  # RFC 5782 IPv6 test point
    # 192.0.2.0/24 (RFC 5737) plays the monitored sending IPs.
    "10.2.0.192 IN A 127.0.0.2",
    "10.2.0.192 IN A 127.0.0.9",
    '10.2.0.192 IN TXT "https://check.spamhaus.org/sbl/query/SBL1"',
    "11.2.0.192 IN A 127.0.0.11",
    "12.2.0.192 IN A 127.0.0.4",
    "20.2.0.192 IN A 127.255.255.254",
    "21.2.0.192 IN A 127.255.255.255",
    "22.2.0.192 IN A 127.255.255.252",
    "23.2.0.192 IN A 127.0.0.2",
    "23.2.0.192 IN A 127.255.255.254",
    "30.2.0.192 IN A 192.0.2.99",
    "31.2.0.192 IN A 127.0.0.200",
    f"{_v6_label(V6_LISTED)} IN A 127.0.0.3",
]
DBL = [
    "dbltest.com IN A 127.0.1.2",
    "listed-domain.example IN A 127.0.1.2",
    "phish.example IN A 127.0.1.4",
    "ipsent.example IN A 127.0.1.255",
]
URIBL = [
    "test.uribl.com IN A 127.0.0.14",  # URIBL's documented test point
    "black.example IN A 127.0.0.2",
    "blackred.example IN A 127.0.0.10",
    "refused.example IN A 127.0.0.1",
]
SURBL = [
    "test.surbl.org IN A 127.0.0.254",
    "mwabuse.example IN A 127.0.0.80",
    "refused.example IN A 127.0.0.1",
]
GENERIC = [
    "2.0.0.127 IN A 127.0.0.2",
    "40.2.0.192 IN A 127.0.0.2",
    '40.2.0.192 IN TXT "listed: 192.0.2.40 sent spam"',
    '2.0.0.127 IN TXT "test point text, must not be reported"',
    *(f"41.2.0.192 IN A 127.0.0.{i}" for i in range(2, 160)),  # > 1232 octets: needs TCP
]


@pytest.fixture
def lists(nsd_factory: StartNsd) -> NsdServer:
    return nsd_factory(
        {
            "zen.spamhaus.org": ZEN,
            "dbl.spamhaus.org": DBL,
            "multi.uribl.com": URIBL,
            "multi.surbl.org": SURBL,
            "generic.bl.test": GENERIC,
            "world.bl.test": ["* IN A 127.0.0.2"],  # a dead list's wildcard
            "empty.bl.test": ['nothing IN TXT "no test point here"'],
        },
        broken=["broken.bl.test"],
    )


def zone(zone_id: str) -> ZoneSpec:
    found = CATALOGUE.get(zone_id)
    return found if found is not None else generic_zone(zone_id)


async def sweep(
    server: str, targets: list[str], zone_ids: list[str], *, self_test: bool = True, **kw: float
) -> dict[tuple[str, str], DnsblResult]:
    zones = [zone(z) for z in zone_ids]
    async with stub_resolver(server, **kw) as dns:
        health = []
        if self_test:
            for z in zones:
                health.extend(await self_test_zone(z, dns=dns))
        policy = DnsblPolicy.with_health(zones, health)
        parsed = [parse_target(t) for t in targets]
        results = await sweep_dnsbl(parsed, dns=dns, policy=policy)
    return {(r.target.text, d.zone): d for r in results for d in r.results}


CASES = [
    # target, zone, verdict, codes, error, severity
    ("192.0.2.1", "zen.spamhaus.org", "not_listed", [], None, None),
    ("192.0.2.10", "zen.spamhaus.org", "listed", ["127.0.0.2", "127.0.0.9"], None, "critical"),
    ("192.0.2.11", "zen.spamhaus.org", "listed", ["127.0.0.11"], None, "major"),
    ("192.0.2.12", "zen.spamhaus.org", "listed", ["127.0.0.4"], None, "critical"),
    ("192.0.2.20", "zen.spamhaus.org", "unknown", ["127.255.255.254"], "public_resolver", None),
    ("192.0.2.21", "zen.spamhaus.org", "unknown", ["127.255.255.255"], "excessive_queries", None),
    ("192.0.2.22", "zen.spamhaus.org", "unknown", ["127.255.255.252"], "typo_zone_name", None),
    ("192.0.2.23", "zen.spamhaus.org", "unknown", None, "public_resolver", None),
    ("192.0.2.30", "zen.spamhaus.org", "unknown", ["192.0.2.99"], "answer_outside_127", None),
    ("192.0.2.31", "zen.spamhaus.org", "unknown", ["127.0.0.200"], "unexpected_code", None),
    (V6_LISTED, "zen.spamhaus.org", "listed", ["127.0.0.3"], None, "critical"),
    ("2001:db8::1", "zen.spamhaus.org", "not_listed", [], None, None),
    ("www.listed-domain.example", "dbl.spamhaus.org", "listed", ["127.0.1.2"], None, None),
    ("phish.example", "dbl.spamhaus.org", "listed", ["127.0.1.4"], None, None),
    (
        "ipsent.example",
        "dbl.spamhaus.org",
        "unknown",
        ["127.0.1.255"],
        "ip_sent_to_domain_list",
        None,
    ),
    ("clean.example", "dbl.spamhaus.org", "not_listed", [], None, None),
    ("black.example", "multi.uribl.com", "listed", ["127.0.0.2"], None, None),
    ("blackred.example", "multi.uribl.com", "listed", ["127.0.0.10"], None, None),
    ("refused.example", "multi.uribl.com", "unknown", ["127.0.0.1"], "query_refused", None),
    ("mwabuse.example", "multi.surbl.org", "listed", ["127.0.0.80"], None, None),
    ("refused.example", "multi.surbl.org", "unknown", ["127.0.0.1"], "query_refused", None),
    ("192.0.2.40", "generic.bl.test", "listed", ["127.0.0.2"], None, "major"),
    ("192.0.2.1", "generic.bl.test", "not_listed", [], None, None),
]


async def test_every_verdict_rule_against_a_real_server(lists: NsdServer) -> None:
    targets = sorted({c[0] for c in CASES})
    zones = sorted({c[1] for c in CASES})
    got = await sweep(lists.address, targets, zones)
    for target, zone_id, verdict, codes, error, severity in CASES:
        result = got[(parse_target(target).text, zone_id)]
        case = f"{target} on {zone_id}"
        assert result.verdict.value == verdict, case
        if codes is not None:
            assert list(result.codes) == codes, case
        assert result.error == error, case
        if severity is not None:
            assert result.severity is not None, case
            assert result.severity.value == severity, case


async def test_multi_code_answers_report_every_meaning(lists: NsdServer) -> None:
    got = await sweep(
        lists.address,
        ["192.0.2.10", "blackred.example", "mwabuse.example"],
        ["zen.spamhaus.org", "multi.uribl.com", "multi.surbl.org"],
    )
    assert len(got[("192.0.2.10", "zen.spamhaus.org")].meanings) == 2  # SBL and DROP
    uribl = [m.lower() for m in got[("blackred.example", "multi.uribl.com")].meanings]
    assert len(uribl) == 2  # one code, two bits
    assert "black" in uribl[0]
    assert "red" in uribl[1]
    surbl = [m.lower() for m in got[("mwabuse.example", "multi.surbl.org")].meanings]
    assert len(surbl) == 2
    assert "mw" in surbl[0]
    assert "abuse" in surbl[1]


async def test_txt_reason_is_read_at_the_listed_name_not_the_test_point(lists: NsdServer) -> None:
    got = await sweep(
        lists.address, ["192.0.2.40", "192.0.2.10"], ["generic.bl.test", "zen.spamhaus.org"]
    )
    assert got[("192.0.2.40", "generic.bl.test")].reason == "listed: 192.0.2.40 sent spam"
    assert (
        got[("192.0.2.10", "zen.spamhaus.org")].reason
        == "https://check.spamhaus.org/sbl/query/SBL1"
    )


async def test_a_listing_with_a_truncated_answer_is_read_over_tcp(lists: NsdServer) -> None:
    got = await sweep(lists.address, ["192.0.2.41"], ["generic.bl.test"])
    result = got[("192.0.2.41", "generic.bl.test")]
    assert result.verdict is Verdict.LISTED
    assert len(result.codes) == 158


async def test_wildcard_zone_that_lists_the_world_is_unhealthy_and_never_listed(
    lists: NsdServer,
) -> None:
    got = await sweep(lists.address, ["192.0.2.1", "192.0.2.10"], ["world.bl.test"])
    for target in ("192.0.2.1", "192.0.2.10"):
        result = got[(target, "world.bl.test")]
        assert result.verdict is Verdict.UNKNOWN
        assert result.error == "zone_unhealthy"


@pytest.mark.parametrize(
    ("zone_id", "reason"),
    [
        pytest.param("world.bl.test", "lists_everything", id="wildcard-lists-everything"),
        pytest.param("empty.bl.test", "test_point_not_listed", id="missing-test-point"),
        pytest.param("broken.bl.test", "servfail", id="servfail"),
        pytest.param("notserved.bl.test", "refused", id="refused"),
        pytest.param("generic.bl.test", None, id="healthy"),
    ],
)
async def test_self_test_reason(lists: NsdServer, zone_id: str, reason: str | None) -> None:
    async with stub_resolver(lists.address) as dns:
        (health,) = await self_test_zone(zone(zone_id), dns=dns)
    assert health.healthy is (reason is None)
    assert health.reason == reason


async def test_ipv6_self_test_is_separate_from_ipv4(lists: NsdServer) -> None:
    async with stub_resolver(lists.address) as dns:
        health = {h.family: h for h in await self_test_zone(zone("zen.spamhaus.org"), dns=dns)}
    assert health[Family.IPV4].healthy
    assert health[Family.IPV6].healthy


async def test_unhealthy_zone_results_are_unknown_even_for_listed_targets(lists: NsdServer) -> None:
    got = await sweep(lists.address, ["192.0.2.40"], ["empty.bl.test"])
    assert got[("192.0.2.40", "empty.bl.test")].error == "zone_unhealthy"


async def test_without_self_test_refused_and_servfail_are_unknown_not_clean(
    lists: NsdServer,
) -> None:
    got = await sweep(
        lists.address, ["192.0.2.1"], ["notserved.bl.test", "broken.bl.test"], self_test=False
    )
    assert got[("192.0.2.1", "notserved.bl.test")].error == "refused"
    assert got[("192.0.2.1", "broken.bl.test")].error == "servfail"
    assert all(r.verdict is Verdict.UNKNOWN for r in got.values())


async def test_unreachable_resolver_is_unknown_timeout_never_clean(silent_udp_port: str) -> None:
    got = await sweep(
        silent_udp_port,
        ["192.0.2.1"],
        ["zen.spamhaus.org"],
        self_test=False,
        timeout=0.2,
        attempts=1,
    )
    assert got[("192.0.2.1", "zen.spamhaus.org")].verdict is Verdict.UNKNOWN
    assert got[("192.0.2.1", "zen.spamhaus.org")].error == "timeout"


async def test_only_applicable_zones_are_queried(lists: NsdServer) -> None:
    got = await sweep(
        lists.address,
        ["2001:db8::1", "192.0.2.1", "clean.example"],
        ["generic.bl.test", "zen.spamhaus.org", "dbl.spamhaus.org"],
    )
    assert ("2001:db8::1", "generic.bl.test") not in got  # IPv4-only list
    assert ("2001:db8::1", "zen.spamhaus.org") in got
    assert ("192.0.2.1", "dbl.spamhaus.org") not in got  # no IPs to domain lists
    assert ("clean.example", "zen.spamhaus.org") not in got


async def test_dqs_key_is_used_in_queries_and_never_logged(
    nsd_factory: StartNsd, caplog: pytest.LogCaptureFixture
) -> None:
    key = "abcdefghijklmnopqrstuvwxyz"
    server = nsd_factory({f"{key}.zen.dq.spamhaus.net": ZEN})
    dqs = zone("zen.dq.spamhaus.net").with_key(key)
    caplog.set_level(logging.DEBUG)
    async with stub_resolver(server.address) as dns:
        health = await self_test_zone(dqs, dns=dns)
        policy = DnsblPolicy.with_health([dqs], health)
        (result,) = await sweep_dnsbl([parse_target("192.0.2.10")], dns=dns, policy=policy)
    (verdict,) = result.results
    assert verdict.verdict is Verdict.LISTED
    assert verdict.zone == "zen.dq.spamhaus.net"
    assert key not in repr(result)
    assert key not in repr(health)
    assert key not in caplog.text
