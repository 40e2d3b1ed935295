"""PTR / FCrDNS decisions as pure functions: evaluate_ptr over DNS outcome values."""

from __future__ import annotations

import ipaddress

import pytest

from checks.codes.host import CODES
from checks.dns import Answer, DnsOutcome, NoData, NxDomain, RdataType, Unknown, UnknownReason
from checks.findings import FindingSeverity
from checks.host import PtrPolicy, PtrResult, evaluate_ptr, is_generic_name, parse_ip
from checks.status import CheckStatus

E, W = FindingSeverity.ERROR, FindingSeverity.WARNING
SEVERITIES = {
    "ptr.missing": E,
    "ptr.not_forward_confirmed": E,
    "ptr.multiple_names": W,
    "ptr.generic_name": W,
    "ptr.unexpected_domain": W,
    "ptr.lookup_failed": W,
    "mx.missing": W,
    "mx.domain_not_found": E,
    "mx.null_mx": E,
    "ptr.name_not_forward_confirmed": W,
    "mx.null_mx_mixed": E,
    "mx.host_unresolvable": E,
    "mx.target_is_ip_literal": W,
    "mx.target_is_cname": W,
    "mx.lookup_failed": W,
}
IP4 = ipaddress.IPv4Address("192.0.2.10")
IP6 = ipaddress.IPv6Address("2001:db8::10")
REV4 = IP4.reverse_pointer


def test_every_host_code_is_registered_with_a_pinned_severity() -> None:
    assert set(SEVERITIES) == set(CODES)


def _ptr(*names: str) -> Answer:
    return Answer(REV4, RdataType.PTR, names, 300)


def _a(name: str, *addresses: str, rdtype: RdataType = RdataType.A) -> Answer:
    return Answer(name, rdtype, addresses, 300)


def _evaluate(
    ptr: DnsOutcome,
    forward: dict[str, DnsOutcome] | None = None,
    *,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = IP4,
    policy: PtrPolicy | None = None,
) -> PtrResult:
    return evaluate_ptr(address, ptr, forward or {}, policy or PtrPolicy())


def _codes(result: PtrResult) -> list[str]:
    for finding in result.findings:
        assert finding.severity is SEVERITIES[finding.code], finding.code
    return [f.code for f in result.findings]


def test_forward_confirmed_ptr_is_ok() -> None:
    result = _evaluate(_ptr("mail.example.com."), {"mail.example.com": _a("m", "192.0.2.10")})
    assert result == PtrResult(
        "192.0.2.10", CheckStatus.OK, ("mail.example.com",), True, ("mail.example.com",), ()
    )


@pytest.mark.parametrize(
    "forward",
    [
        pytest.param(_a("m", "192.0.2.99"), id="resolves-elsewhere"),
        pytest.param(NoData("m", RdataType.A), id="no-address"),
        pytest.param(NxDomain("m"), id="name-does-not-exist"),
    ],
)
def test_ptr_not_resolving_back_fails(forward: DnsOutcome) -> None:
    result = _evaluate(_ptr("mail.example.com."), {"mail.example.com": forward})
    assert (result.status, result.forward_confirmed) == (CheckStatus.FAIL, False)
    assert _codes(result) == ["ptr.not_forward_confirmed"]


@pytest.mark.parametrize(
    "ptr", [NxDomain(REV4), NoData(REV4, RdataType.PTR)], ids=["nxdomain", "nodata"]
)
def test_no_ptr_is_missing_and_fails(ptr: DnsOutcome) -> None:
    result = _evaluate(ptr)
    assert (result.status, result.forward_confirmed, result.names) == (CheckStatus.FAIL, False, ())
    assert _codes(result) == ["ptr.missing"]


@pytest.mark.parametrize("reason", [UnknownReason.TIMEOUT, UnknownReason.SERVFAIL])
def test_ptr_lookup_failure_is_unknown_not_missing(reason: UnknownReason) -> None:
    result = _evaluate(Unknown(REV4, reason))
    assert (result.status, result.forward_confirmed) == (CheckStatus.UNKNOWN, None)
    assert _codes(result) == ["ptr.lookup_failed"]
    assert result.findings[0].detail["reason"] == str(reason)


def test_forward_lookup_failure_is_unknown() -> None:
    result = _evaluate(
        _ptr("mail.example.com."), {"mail.example.com": Unknown("m", UnknownReason.SERVFAIL)}
    )
    assert (result.status, result.forward_confirmed) == (CheckStatus.UNKNOWN, None)
    assert _codes(result) == ["ptr.lookup_failed"]


def test_one_confirmed_name_among_several_confirms_but_warns() -> None:
    forward: dict[str, DnsOutcome] = {
        "a.example.com": NxDomain("a"),
        "b.example.com": _a("b", "192.0.2.1", "192.0.2.10"),
    }
    result = _evaluate(_ptr("a.example.com.", "B.example.com."), forward)
    assert result.forward_confirmed is True
    assert result.confirmed_names == ("b.example.com",)
    assert result.names == ("a.example.com", "b.example.com")
    assert (result.status, _codes(result)) == (
        CheckStatus.WARN,
        ["ptr.name_not_forward_confirmed", "ptr.multiple_names"],
    )
    assert result.findings[0].detail["names"] == "a.example.com"


def test_confirmed_name_wins_over_another_names_failed_lookup() -> None:
    forward: dict[str, DnsOutcome] = {
        "a.example.com": Unknown("a", UnknownReason.TIMEOUT),
        "b.example.com": _a("b", "192.0.2.10"),
    }
    result = _evaluate(_ptr("a.example.com.", "b.example.com."), forward)
    assert (result.forward_confirmed, result.status) == (True, CheckStatus.WARN)


def test_duplicate_ptr_names_count_once() -> None:
    forward: dict[str, DnsOutcome] = {"mail.example.com": _a("m", "192.0.2.10")}
    result = _evaluate(_ptr("mail.example.com.", "MAIL.example.com."), forward)
    assert (result.names, _codes(result)) == (("mail.example.com",), [])


def test_ipv6_forward_confirmation_compares_addresses_not_text() -> None:
    ptr = Answer(IP6.reverse_pointer, RdataType.PTR, ("mail6.example.com.",), 300)
    forward: dict[str, DnsOutcome] = {
        "mail6.example.com": _a("m", "2001:0db8:0:0::0010", rdtype=RdataType.AAAA)
    }
    result = _evaluate(ptr, forward, address=IP6)
    assert (result.ip, result.status, result.forward_confirmed) == (
        "2001:db8::10",
        CheckStatus.OK,
        True,
    )


def test_generic_name_warns_even_when_confirmed() -> None:
    forward: dict[str, DnsOutcome] = {"192-0-2-10.pool.isp.test": _a("g", "192.0.2.10")}
    result = _evaluate(_ptr("192-0-2-10.pool.isp.test."), forward)
    assert (result.status, _codes(result)) == (CheckStatus.WARN, ["ptr.generic_name"])


def test_expected_domains_policy() -> None:
    forward: dict[str, DnsOutcome] = {"mail.example.com": _a("m", "192.0.2.10")}
    ok = _evaluate(
        _ptr("mail.example.com."), forward, policy=PtrPolicy(expected_domains=("Example.COM.",))
    )
    other = _evaluate(
        _ptr("mail.example.com."), forward, policy=PtrPolicy(expected_domains=("example.org",))
    )
    assert _codes(ok) == []
    assert (other.status, _codes(other)) == (CheckStatus.WARN, ["ptr.unexpected_domain"])


@pytest.mark.parametrize(
    ("name", "ip", "generic"),
    [
        ("192-0-2-10.dsl.example.net", "192.0.2.10", True),
        ("10.2.0.192.static.isp.example", "192.0.2.10", True),
        ("host192_0_2_10.example.net", "192.0.2.10", True),
        ("c192000002010.example.net", "192.0.2.10", True),
        ("dynamic-host.example.net", "192.0.2.10", True),
        ("dhcp123.example.net", "192.0.2.10", True),
        ("ppp-7.example.net", "192.0.2.10", True),
        ("pool.example.net", "192.0.2.10", True),
        ("dsl.example.net", "2001:db8::10", True),
        ("mail.example.com", "192.0.2.10", False),
        ("mta10.example.com", "192.0.2.10", False),
        ("192-0-2-11.example.net", "192.0.2.10", False),  # another IP's octets
        ("1192-0-2-10.example.net", "192.0.2.10", False),  # not a whole octet
        ("static.example.com", "192.0.2.10", False),
        ("mailpool.example.com", "192.0.2.10", False),
        ("dslr-shop.example.com", "192.0.2.10", False),
        ("cablecar.example.com", "192.0.2.10", False),
        ("2001-db8--10.example.net", "2001:db8::10", False),  # IPv6: pool labels only
    ],
)
def test_generic_name_heuristic_is_conservative(name: str, ip: str, generic: bool) -> None:
    assert is_generic_name(name, ipaddress.ip_address(ip)) is generic


def test_parse_ip_unwraps_ipv4_mapped_addresses() -> None:
    assert parse_ip("::ffff:192.0.2.10") == IP4
    assert parse_ip(" 2001:db8::10 ") == IP6
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        parse_ip("mail.example.com")
