"""check_host() and check_spf() over an in-memory DnsClient: limits, include/redirect, findings."""

from __future__ import annotations

import pytest

from checks.dns import UnknownReason
from checks.spf import SpfOutcome, SpfPolicy, check_host, check_spf
from checks.status import CheckStatus

from .fakedns import FakeDns, Zone


def _txt(name: str, record: str) -> dict[tuple[str, str], list[str]]:
    return {(name, "TXT"): [record]}


async def _host(zone: Zone, ip: str = "192.0.2.1", domain: str = "example.com") -> SpfOutcome:
    evaluation = await check_host(ip, domain, f"user@{domain}", dns=FakeDns(zone))
    return evaluation.result


async def test_ten_dns_terms_pass_and_the_eleventh_is_a_permerror() -> None:
    ten = "v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(9)) + " a:ok.example.com -all"
    zone: dict[tuple[str, str], list[str]] = {("ok.example.com", "A"): ["192.0.2.1"]}
    zone |= {(f"h{i}.example.com", "A"): ["198.51.100.1"] for i in range(10)}
    assert await _host({**zone, **_txt("example.com", ten)}) is SpfOutcome.PASS
    eleven = ten.replace("a:ok", "a:h9.example.com a:ok")
    assert await _host({**zone, **_txt("example.com", eleven)}) is SpfOutcome.PERMERROR


async def test_lookup_budget_is_shared_across_includes() -> None:
    zone = {
        **_txt("example.com", "v=spf1 a include:inc.example.com -all"),
        **_txt("inc.example.com", "v=spf1 " + "a " * 9 + "-all"),
        ("example.com", "A"): ["198.51.100.1"],
        ("inc.example.com", "A"): ["198.51.100.2"],
    }
    assert await _host(zone) is SpfOutcome.PERMERROR


async def test_third_void_lookup_is_a_permerror() -> None:
    two = "v=spf1 a:nx1.example.com a:nx2.example.com ?all"
    assert await _host(_txt("example.com", two)) is SpfOutcome.NEUTRAL
    three = "v=spf1 a:nx1.example.com a:nx2.example.com a:nx3.example.com ?all"
    assert await _host(_txt("example.com", three)) is SpfOutcome.PERMERROR


async def test_more_than_ten_mx_names_is_a_permerror() -> None:
    mx = [f"{i} mx{i}.example.com." for i in range(11)]
    zone = {**_txt("example.com", "v=spf1 mx -all"), ("example.com", "MX"): mx}
    assert await _host(zone) is SpfOutcome.PERMERROR


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("v=spf1 +all", SpfOutcome.PASS),
        ("v=spf1 -all", SpfOutcome.SOFTFAIL),
        ("v=spf1 ~all", SpfOutcome.SOFTFAIL),
        ("v=spf1 ?all", SpfOutcome.SOFTFAIL),
        ("v=spf1 ip4:192.0.2.1 ip4:192.0.2.1 bad", SpfOutcome.PERMERROR),
        (None, SpfOutcome.PERMERROR),
    ],
)
async def test_include_result_table_of_rfc7208_5_2(inner: str | None, expected: SpfOutcome) -> None:
    zone: dict[tuple[str, str], list[str]] = _txt(
        "example.com", "v=spf1 include:inc.example.net ~all"
    )
    if inner is not None:
        zone |= _txt("inc.example.net", inner)
    assert await _host(zone) is expected


async def test_include_temperror_propagates() -> None:
    zone: Zone = {
        **_txt("example.com", "v=spf1 include:inc.example.net -all"),
        ("inc.example.net", "TXT"): UnknownReason.SERVFAIL,
    }
    assert await _host(zone) is SpfOutcome.TEMPERROR


async def test_redirect_uses_the_target_policy_and_its_explanation() -> None:
    zone = {
        **_txt("example.com", "v=spf1 exp=no.example.com redirect=_spf.example.net"),
        **_txt("_spf.example.net", "v=spf1 -all exp=why.example.net"),
        ("why.example.net", "TXT"): ["%{i} is not allowed for %{d}"],
        ("no.example.com", "TXT"): ["wrong"],
    }
    evaluation = await check_host("192.0.2.1", "example.com", "a@example.com", dns=FakeDns(zone))
    assert evaluation.result is SpfOutcome.FAIL
    assert evaluation.explanation == "192.0.2.1 is not allowed for _spf.example.net"
    assert evaluation.mechanism == "-all"


async def test_exp_lookup_failure_is_ignored() -> None:
    zone: Zone = {
        **_txt("example.com", "v=spf1 -all exp=why.example.com"),
        ("why.example.com", "TXT"): UnknownReason.TIMEOUT,
    }
    evaluation = await check_host("192.0.2.1", "example.com", "a@example.com", dns=FakeDns(zone))
    assert (evaluation.result, evaluation.explanation) == (SpfOutcome.FAIL, None)


async def test_ipv4_mapped_ipv6_client_is_evaluated_as_ipv4() -> None:
    zone = _txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
    assert await _host(zone, ip="::ffff:192.0.2.1") is SpfOutcome.PASS


async def test_a_mechanism_uses_aaaa_and_the_ipv6_cidr_for_ipv6_clients() -> None:
    zone = {
        **_txt("example.com", "v=spf1 a/24//64 -all"),
        ("example.com", "A"): ["192.0.2.99"],
        ("example.com", "AAAA"): ["2001:db8::1"],
    }
    assert await _host(zone, ip="2001:db8::ffff") is SpfOutcome.PASS
    assert await _host(zone, ip="192.0.2.200") is SpfOutcome.PASS
    assert await _host(zone, ip="2001:db8:1::1") is SpfOutcome.FAIL


async def test_ptr_only_counts_names_whose_addresses_confirm() -> None:
    zone = {
        **_txt("example.com", "v=spf1 ptr -all"),
        ("1.2.0.192.in-addr.arpa", "PTR"): ["forged.example.com.", "mail.example.com."],
        ("mail.example.com", "A"): ["192.0.2.1"],
    }
    assert await _host(zone) is SpfOutcome.PASS
    del zone[("mail.example.com", "A")]
    assert await _host(zone) is SpfOutcome.FAIL


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("nodot", SpfOutcome.NONE),
        ("a..example.com", SpfOutcome.NONE),
        ("[192.0.2.1]", SpfOutcome.NONE),
    ],
)
async def test_malformed_domains_give_none(domain: str, expected: SpfOutcome) -> None:
    assert await _host({}, domain=domain) is expected


async def test_two_records_are_a_permerror_and_a_txt_timeout_a_temperror() -> None:
    assert (
        await _host({("example.com", "TXT"): ["v=spf1 -all", "v=spf1 +all"]})
        is SpfOutcome.PERMERROR
    )
    assert await _host({("example.com", "TXT"): UnknownReason.TIMEOUT}) is SpfOutcome.TEMPERROR


# -- check_spf: static counts and findings -------------------------------------


def _codes(result: object) -> set[str]:
    return {f.code for f in getattr(result, "findings", ())}


async def test_static_count_covers_the_whole_tree_and_names_the_heaviest_include() -> None:
    zone = {
        **_txt("example.com", "v=spf1 include:big.example.net include:small.example.net -all"),
        **_txt(
            "big.example.net",
            "v=spf1 " + " ".join(f"include:s{i}.example.net" for i in range(4)) + " -all",
        ),
        **_txt("small.example.net", "v=spf1 ip4:192.0.2.0/24 -all"),
    }
    zone |= {k: v for i in range(4) for k, v in _txt(f"s{i}.example.net", "v=spf1 a -all").items()}
    zone |= {(f"s{i}.example.net", "A"): ["198.51.100.1"] for i in range(4)}
    zone |= {(f"s{i}.example.net", "AAAA"): ["2001:db8::1"] for i in range(4)}
    result = await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    assert result.dns_lookups == 2 + 4 + 4
    assert result.include_tree is not None
    big = result.include_tree.children[0]
    assert (big.domain, big.own_lookups, big.total_lookups) == ("big.example.net", 4, 8)
    near = next(f for f in result.findings if f.code == "spf.lookups_near_limit")
    assert near.detail["heaviest"] == "big.example.net"
    assert result.status is CheckStatus.WARN


async def test_plus_all_is_critical_and_fails() -> None:
    result = await check_spf(
        "example.com", dns=FakeDns(_txt("example.com", "v=spf1 +all")), policy=SpfPolicy()
    )
    assert "spf.plus_all" in _codes(result)
    assert result.status is CheckStatus.FAIL


async def test_plus_all_behind_a_softfail_include_is_not_flagged() -> None:
    zone = {
        **_txt("example.com", "v=spf1 ~include:x.example.net -all"),
        **_txt("x.example.net", "v=spf1 +all"),
    }
    result = await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    assert "spf.plus_all" not in _codes(result)


async def test_include_loop_is_reported_as_include_failed() -> None:
    zone = {
        **_txt("example.com", "v=spf1 include:example.net -all"),
        **_txt("example.net", "v=spf1 include:example.com -all"),
    }
    result = await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    failed = next(f for f in result.findings if f.code == "spf.include_failed")
    assert failed.detail["reason"] == "include loop"


async def test_redirect_next_to_all_is_ignored_and_not_counted() -> None:
    zone = _txt("example.com", "v=spf1 -all redirect=example.net")
    result = await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    assert "spf.redirect_ignored" in _codes(result)
    assert result.dns_lookups == 0


async def test_no_all_follows_redirects_to_the_deciding_record() -> None:
    zone = {
        **_txt("example.com", "v=spf1 redirect=example.net"),
        **_txt("example.net", "v=spf1 ip4:192.0.2.1"),
    }
    result = await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    assert "spf.no_all" in _codes(result)
    zone |= _txt("example.net", "v=spf1 ip4:192.0.2.1 -all")
    assert "spf.no_all" not in _codes(
        await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    )


async def test_macro_targets_are_counted_but_not_followed() -> None:
    zone = _txt("example.com", "v=spf1 include:%{ir}.spf.example.net -all")
    result = await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    assert result.dns_lookups == 1
    assert "spf.macro_unresolved" in _codes(result)
    assert result.status is CheckStatus.OK


async def test_mx_hosts_without_addresses_are_void_lookups() -> None:
    zone = {
        **_txt("example.com", "v=spf1 mx -all"),
        ("example.com", "MX"): ["10 a.example.com.", "20 b.example.com.", "30 c.example.com."],
    }
    result = await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy())
    assert result.void_lookups == 3
    assert "spf.too_many_void_lookups" in _codes(result)


def test_policy_rejects_a_sending_ip_that_is_not_an_ip() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        SpfPolicy(sending_ips=("mail.example.com",))


async def test_a_failed_ptr_lookup_is_a_temperror_unless_a_name_confirms() -> None:
    zone: dict[tuple[str, str], list[str] | UnknownReason] = {
        **_txt("example.com", "v=spf1 ptr -all"),
        ("1.2.0.192.in-addr.arpa", "PTR"): UnknownReason.TIMEOUT,
    }
    assert await _host(zone) is SpfOutcome.TEMPERROR
    # One name's address lookup failing does not matter when another name confirms.
    zone[("1.2.0.192.in-addr.arpa", "PTR")] = ["a.example.com.", "b.example.com."]
    zone[("a.example.com", "A")] = UnknownReason.SERVFAIL
    zone[("b.example.com", "A")] = ["192.0.2.1"]
    assert await _host(zone) is SpfOutcome.PASS
    del zone[("b.example.com", "A")]
    assert await _host(zone) is SpfOutcome.TEMPERROR


async def test_an_undecided_p_macro_is_a_temperror_in_a_term_and_no_explanation() -> None:
    zone: dict[tuple[str, str], list[str] | UnknownReason] = {
        **_txt("example.com", "v=spf1 exists:%{p}._spf.example.com -all exp=why.example.com"),
        ("1.2.0.192.in-addr.arpa", "PTR"): UnknownReason.TIMEOUT,
        ("why.example.com", "TXT"): ["sent from %{p}"],
    }
    assert await _host(zone) is SpfOutcome.TEMPERROR
    zone[("example.com", "TXT")] = ["v=spf1 -all exp=why.example.com"]
    evaluation = await check_host("192.0.2.1", "example.com", "u@example.com", dns=FakeDns(zone))
    assert evaluation.result is SpfOutcome.FAIL
    assert evaluation.explanation is None
