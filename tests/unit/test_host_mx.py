"""MX decisions as pure functions: evaluate_mx over DNS outcome values."""

from __future__ import annotations

import pytest

from checks.dns import Answer, DnsOutcome, NoData, NxDomain, RdataType, Unknown, UnknownReason
from checks.host import MxHost, MxResult, evaluate_mx, parse_mx_record
from checks.host.mx import AddressOutcomes
from checks.status import CheckStatus

from .test_host_ptr import SEVERITIES

DOMAIN = "example.com"


def _mx(*records: str) -> Answer:
    return Answer(DOMAIN, RdataType.MX, records, 300)


def _addr(
    name: str, v4: tuple[str, ...] = (), v6: tuple[str, ...] = (), chain: tuple[str, ...] = ()
) -> AddressOutcomes:
    a: DnsOutcome = Answer(name, RdataType.A, v4, 300, chain) if v4 else NoData(name, RdataType.A)
    aaaa: DnsOutcome = (
        Answer(name, RdataType.AAAA, v6, 300, chain) if v6 else NoData(name, RdataType.AAAA)
    )
    return a, aaaa


def _codes(result: MxResult) -> list[str]:
    for finding in result.findings:
        assert finding.severity is SEVERITIES[finding.code], finding.code
    return [f.code for f in result.findings]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("10 mx.example.com.", (10, "mx.example.com")),
        ("0 .", (0, ".")),
        ("5 MX.Example.COM", (5, "mx.example.com")),
        ("garbage", None),
        ("x mx.example.com.", None),
    ],
)
def test_parse_mx_record(text: str, parsed: tuple[int, str] | None) -> None:
    assert parse_mx_record(text) == parsed


def test_resolving_hosts_are_ok_and_sorted_by_preference() -> None:
    hosts = {
        "mx1.example.com": _addr("mx1", ("192.0.2.25",)),
        "mx2.example.com": _addr("mx2", v6=("2001:db8::25",)),
    }
    result = evaluate_mx(DOMAIN, _mx("20 mx2.example.com.", "10 mx1.example.com."), hosts)
    assert result == MxResult(
        DOMAIN,
        CheckStatus.OK,
        (
            MxHost(10, "mx1.example.com", ("192.0.2.25",), True),
            MxHost(20, "mx2.example.com", ("2001:db8::25",), True),
        ),
        False,
        (),
    )


def test_no_mx_warns_and_says_whether_implicit_mx_works() -> None:
    with_a = evaluate_mx(
        DOMAIN, NoData(DOMAIN, RdataType.MX), {}, fallback=_addr("d", ("1.2.3.4",))
    )
    without = evaluate_mx(DOMAIN, NoData(DOMAIN, RdataType.MX), {}, fallback=_addr("d"))
    failed = evaluate_mx(
        DOMAIN,
        NoData(DOMAIN, RdataType.MX),
        {},
        fallback=(Unknown("d", UnknownReason.TIMEOUT), NoData("d", RdataType.AAAA)),
    )
    expected = ((with_a, "yes", CheckStatus.WARN), (without, "no", CheckStatus.FAIL))
    for result, implicit, status in (*expected, (failed, "unknown", CheckStatus.WARN)):
        # No MX and no A/AAAA either: no route for replies and bounces at all.
        assert (result.status, [f.code for f in result.findings]) == (status, ["mx.missing"])
        assert result.findings[0].detail["implicit_mx"] == implicit
    assert with_a.findings[0].detail["addresses"] == "1.2.3.4"


def test_nonexistent_domain_fails() -> None:
    result = evaluate_mx(DOMAIN, NxDomain(DOMAIN), {})
    assert (result.status, _codes(result)) == (CheckStatus.FAIL, ["mx.domain_not_found"])


def test_null_mx_on_a_sending_domain_fails_and_has_no_hosts() -> None:
    result = evaluate_mx(DOMAIN, _mx("0 ."), {})
    assert (result.status, result.null_mx, result.hosts) == (CheckStatus.FAIL, True, ())
    assert _codes(result) == ["mx.null_mx"]


def test_null_mx_mixed_with_real_hosts_fails() -> None:
    hosts = {"mx1.example.com": _addr("mx1", ("192.0.2.25",))}
    result = evaluate_mx(DOMAIN, _mx("0 .", "10 mx1.example.com."), hosts)
    assert (result.status, result.null_mx, _codes(result)) == (
        CheckStatus.FAIL,
        True,
        ["mx.null_mx_mixed"],
    )


@pytest.mark.parametrize(
    "outcomes",
    [
        pytest.param(_addr("mx1"), id="nodata"),
        pytest.param((NxDomain("mx1"), NxDomain("mx1")), id="nxdomain"),
    ],
)
def test_unresolvable_host_fails(outcomes: AddressOutcomes) -> None:
    result = evaluate_mx(DOMAIN, _mx("10 mx1.example.com."), {"mx1.example.com": outcomes})
    assert (result.status, _codes(result)) == (CheckStatus.FAIL, ["mx.host_unresolvable"])
    assert result.hosts == (MxHost(10, "mx1.example.com", (), False),)


def test_cname_target_warns() -> None:
    hosts = {"mx1.example.com": _addr("mx1", ("192.0.2.25",), chain=("real.example.net",))}
    result = evaluate_mx(DOMAIN, _mx("10 mx1.example.com."), hosts)
    assert (result.status, _codes(result)) == (CheckStatus.WARN, ["mx.target_is_cname"])
    assert result.findings[0].detail["cname_target"] == "real.example.net"


def test_ip_literal_target_warns_and_is_unresolvable() -> None:
    result = evaluate_mx(DOMAIN, _mx("10 192.0.2.25."), {})
    assert _codes(result) == ["mx.target_is_ip_literal", "mx.host_unresolvable"]
    assert result.status is CheckStatus.FAIL


def test_mx_lookup_failure_is_unknown_not_missing() -> None:
    result = evaluate_mx(DOMAIN, Unknown(DOMAIN, UnknownReason.TIMEOUT), {})
    assert (result.status, _codes(result)) == (CheckStatus.UNKNOWN, ["mx.lookup_failed"])


def test_host_lookup_failure_is_unknown() -> None:
    hosts = {
        "mx1.example.com": _addr("mx1", ("192.0.2.25",)),
        "mx2.example.com": (Unknown("mx2", UnknownReason.SERVFAIL), NoData("mx2", RdataType.AAAA)),
    }
    result = evaluate_mx(DOMAIN, _mx("10 mx1.example.com.", "20 mx2.example.com."), hosts)
    assert (result.status, _codes(result)) == (CheckStatus.UNKNOWN, ["mx.lookup_failed"])
    assert result.hosts[1] == MxHost(20, "mx2.example.com", (), None)


def test_known_failure_is_not_hidden_by_another_hosts_failed_lookup() -> None:
    hosts = {
        "mx1.example.com": _addr("mx1"),
        "mx2.example.com": (Unknown("mx2", UnknownReason.TIMEOUT), NoData("mx2", RdataType.AAAA)),
    }
    result = evaluate_mx(DOMAIN, _mx("10 mx1.example.com.", "20 mx2.example.com."), hosts)
    assert result.status is CheckStatus.FAIL
    assert _codes(result) == ["mx.host_unresolvable", "mx.lookup_failed"]


def test_address_found_by_one_family_is_enough() -> None:
    hosts = {"mx1.example.com": (Unknown("mx1", UnknownReason.TIMEOUT), _addr("x", v6=("::1",))[1])}
    result = evaluate_mx(DOMAIN, _mx("10 mx1.example.com."), hosts)
    assert (result.status, result.hosts[0].resolved) == (CheckStatus.OK, True)
