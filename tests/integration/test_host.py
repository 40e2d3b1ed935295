"""PTR / FCrDNS (IPv4 and IPv6) and MX end to end against a real NSD with zones written here.

Reverse zones: 2.0.192.in-addr.arpa (RFC 5737) and 8.b.d.0.1.0.0.2.ip6.arpa (2001:db8::/32,
RFC 3849), including an RFC 2317-style CNAME in the reverse zone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver

from checks.dns import StubResolver
from checks.host import MxHost, MxPolicy, PtrPolicy, check_mx, check_ptr
from checks.status import CheckStatus

REV4 = "2.0.192.in-addr.arpa"
REV6 = "8.b.d.0.1.0.0.2.ip6.arpa"


def v6(address: str) -> str:
    """Owner name of an address in the 2001:db8::/32 reverse zone, relative to it."""
    return ipaddress.IPv6Address(address).reverse_pointer.removesuffix("." + REV6)


REVERSE4 = [
    "10 IN PTR mail.example.com.",
    "11 IN PTR elsewhere.example.com.",
    "12 IN PTR noaddr.example.com.",
    "13 IN PTR mail13.example.com.",
    "13 IN PTR other.example.com.",
    "14 IN PTR 192-0-2-14.pool.isp.test.",
    "16 IN PTR mx.broken.test.",
    "17 IN CNAME 17.0-25",  # RFC 2317 classless delegation style
    "17.0-25 IN PTR mail17.example.com.",
    "18 IN PTR ghost.example.com.",
]
REVERSE6 = [
    f"{v6('2001:db8::10')} IN PTR mail6.example.com.",
    f"{v6('2001:db8::11')} IN PTR mail.example.com.",  # has an A but no AAAA
]
EXAMPLE = [
    "@ IN MX 10 mail.example.com.",
    "@ IN MX 20 mail6.example.com.",
    "mail IN A 192.0.2.10",
    "elsewhere IN A 192.0.2.99",
    'noaddr IN TXT "no address here"',
    "mail13 IN A 192.0.2.13",
    "other IN A 192.0.2.99",
    "mail17 IN A 192.0.2.17",
    "mail6 IN AAAA 2001:db8::10",
    "nomx IN A 192.0.2.30",
    'bare IN TXT "nothing"',
    "nullmx IN MX 0 .",
    "mixed IN MX 0 .",
    "mixed IN MX 10 mail.example.com.",
    "dangling IN MX 10 nohost.example.com.",
    "alias IN MX 10 mxalias.example.com.",
    "mxalias IN CNAME mail.example.com.",
    "literal IN MX 10 192.0.2.10.",
    "flaky IN MX 10 mx.broken.test.",
    "flaky2 IN MX 10 mail.example.com.",
    "flaky2 IN MX 20 mx.broken.test.",
    "worse IN MX 10 nohost.example.com.",
    "worse IN MX 20 mx.broken.test.",
]
ISP = ["192-0-2-14.pool IN A 192.0.2.14"]


@pytest.fixture(scope="module")
def server(nsd_module_factory: StartNsd) -> NsdServer:
    zones = {REV4: REVERSE4, REV6: REVERSE6, "example.com": EXAMPLE, "isp.test": ISP}
    return nsd_module_factory(zones, broken=["broken.test", "100.51.198.in-addr.arpa"])


@pytest.fixture
async def dns(server: NsdServer) -> AsyncIterator[StubResolver]:
    async with stub_resolver(server.address, timeout=1.0) as resolver:
        yield resolver


PTR_CASES = {
    "192.0.2.10": (CheckStatus.OK, True, ["mail.example.com"], []),
    "192.0.2.11": (CheckStatus.FAIL, False, [], ["ptr.not_forward_confirmed"]),
    "192.0.2.12": (CheckStatus.FAIL, False, [], ["ptr.not_forward_confirmed"]),
    "192.0.2.18": (CheckStatus.FAIL, False, [], ["ptr.not_forward_confirmed"]),
    "192.0.2.13": (
        CheckStatus.WARN,
        True,
        ["mail13.example.com"],
        ["ptr.name_not_forward_confirmed", "ptr.multiple_names"],
    ),
    "192.0.2.14": (CheckStatus.WARN, True, ["192-0-2-14.pool.isp.test"], ["ptr.generic_name"]),
    "192.0.2.15": (CheckStatus.FAIL, False, [], ["ptr.missing"]),
    "192.0.2.16": (CheckStatus.UNKNOWN, None, [], ["ptr.lookup_failed"]),
    "192.0.2.17": (CheckStatus.OK, True, ["mail17.example.com"], []),
    "198.51.100.1": (CheckStatus.UNKNOWN, None, [], ["ptr.lookup_failed"]),
    "2001:db8::10": (CheckStatus.OK, True, ["mail6.example.com"], []),
    "2001:db8::11": (CheckStatus.FAIL, False, [], ["ptr.not_forward_confirmed"]),
    "2001:db8::12": (CheckStatus.FAIL, False, [], ["ptr.missing"]),
    "::ffff:192.0.2.10": (CheckStatus.OK, True, ["mail.example.com"], []),
}


@pytest.mark.parametrize(
    ("ip", "status", "confirmed", "confirmed_names", "codes"),
    [(ip, *case) for ip, case in PTR_CASES.items()],
    ids=list(PTR_CASES),
)
async def test_ptr_and_forward_confirmation(
    dns: StubResolver,
    ip: str,
    status: CheckStatus,
    confirmed: bool | None,
    confirmed_names: list[str],
    codes: list[str],
) -> None:
    result = await check_ptr(ip, dns=dns, policy=PtrPolicy())
    assert [f.code for f in result.findings] == codes
    assert (result.status, result.forward_confirmed) == (status, confirmed)
    assert list(result.confirmed_names) == confirmed_names


async def test_every_ptr_name_is_reported_without_trailing_dot(dns: StubResolver) -> None:
    result = await check_ptr("192.0.2.13", dns=dns, policy=PtrPolicy())
    assert sorted(result.names) == ["mail13.example.com", "other.example.com"]
    mapped = await check_ptr("::ffff:192.0.2.10", dns=dns, policy=PtrPolicy())
    assert mapped.ip == "192.0.2.10"


async def test_ptr_outside_expected_domains_warns(dns: StubResolver) -> None:
    result = await check_ptr(
        "192.0.2.10", dns=dns, policy=PtrPolicy(expected_domains=("example.org",))
    )
    assert (result.status, [f.code for f in result.findings]) == (
        CheckStatus.WARN,
        ["ptr.unexpected_domain"],
    )


MX_CASES = {
    "example.com": (CheckStatus.OK, []),
    "nomx.example.com": (CheckStatus.WARN, ["mx.missing"]),
    "bare.example.com": (CheckStatus.FAIL, ["mx.missing"]),  # no A/AAAA either
    "absent.example.com": (CheckStatus.FAIL, ["mx.domain_not_found"]),
    "nullmx.example.com": (CheckStatus.FAIL, ["mx.null_mx"]),
    "mixed.example.com": (CheckStatus.FAIL, ["mx.null_mx_mixed"]),
    "dangling.example.com": (CheckStatus.FAIL, ["mx.host_unresolvable"]),
    "alias.example.com": (CheckStatus.WARN, ["mx.target_is_cname"]),
    "literal.example.com": (
        CheckStatus.FAIL,
        ["mx.target_is_ip_literal", "mx.host_unresolvable"],
    ),
    "flaky.example.com": (CheckStatus.UNKNOWN, ["mx.lookup_failed"]),
    "flaky2.example.com": (CheckStatus.UNKNOWN, ["mx.lookup_failed"]),
    "worse.example.com": (CheckStatus.FAIL, ["mx.host_unresolvable", "mx.lookup_failed"]),
    "mx.broken.test": (CheckStatus.UNKNOWN, ["mx.lookup_failed"]),
}


@pytest.mark.parametrize(
    ("domain", "status", "codes"),
    [(domain, *case) for domain, case in MX_CASES.items()],
    ids=list(MX_CASES),
)
async def test_mx_finding_and_status(
    dns: StubResolver, domain: str, status: CheckStatus, codes: list[str]
) -> None:
    result = await check_mx(domain, dns=dns, policy=MxPolicy())
    assert [f.code for f in result.findings] == codes
    assert result.status is status


async def test_mx_hosts_resolve_a_and_aaaa(dns: StubResolver) -> None:
    result = await check_mx("example.com", dns=dns, policy=MxPolicy())
    assert result.hosts == (
        MxHost(10, "mail.example.com", ("192.0.2.10",), True),
        MxHost(20, "mail6.example.com", ("2001:db8::10",), True),
    )
    assert result.null_mx is False


async def test_missing_mx_says_whether_implicit_mx_works(dns: StubResolver) -> None:
    with_a = await check_mx("nomx.example.com", dns=dns, policy=MxPolicy())
    without = await check_mx("bare.example.com", dns=dns, policy=MxPolicy())
    assert with_a.findings[0].detail == {"implicit_mx": "yes", "addresses": "192.0.2.30"}
    assert without.findings[0].detail["implicit_mx"] == "no"


async def test_null_mx_flag(dns: StubResolver) -> None:
    result = await check_mx("nullmx.example.com", dns=dns, policy=MxPolicy())
    assert (result.null_mx, result.hosts) == (True, ())


async def test_cname_mx_target_is_resolved_and_named(dns: StubResolver) -> None:
    result = await check_mx("alias.example.com", dns=dns, policy=MxPolicy())
    assert result.hosts == (MxHost(10, "mxalias.example.com", ("192.0.2.10",), True),)
    assert result.findings[0].detail["cname_target"] == "mail.example.com"


async def test_timeouts_are_unknown_not_missing(silent_udp_port: str) -> None:
    async with stub_resolver(silent_udp_port, timeout=0.2, attempts=1) as dns:
        ptr = await check_ptr("192.0.2.10", dns=dns, policy=PtrPolicy())
        mx = await check_mx("example.com", dns=dns, policy=MxPolicy())
    assert (ptr.status, ptr.forward_confirmed) == (CheckStatus.UNKNOWN, None)
    assert [f.code for f in ptr.findings] == ["ptr.lookup_failed"]
    assert ptr.findings[0].detail["reason"] == "timeout"
    assert (mx.status, [f.code for f in mx.findings]) == (CheckStatus.UNKNOWN, ["mx.lookup_failed"])
