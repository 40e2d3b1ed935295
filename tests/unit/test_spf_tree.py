"""check_spf on hostile and awkward data over an in-memory DnsClient: crashes, blow-ups, counts.

Each test pins a review finding: non-ASCII mechanism names and huge digit transformers
must give a syntax error or a result (not an exception), an include tree that includes
each record many times must stay small, a long top label must not backtrack, a lookup
that fails beside one that answers is no failure, voids are counted per address family,
terms after ``all`` are not counted, sending IPs are evaluated concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

import checks.spf.record as record_module
from checks.dns import DnsOutcome, RdataType, Unknown, UnknownReason
from checks.spf import SpfNode, SpfOutcome, SpfPolicy, SpfResult, check_host, check_spf
from checks.spf.macro import check_domain_spec
from checks.status import CheckStatus

from .fakedns import FakeDns, Zone


def _txt(name: str, record: str) -> dict[tuple[str, str], Sequence[str] | UnknownReason]:
    return {(name, "TXT"): [record]}


async def _spf(zone: Zone, ips: Sequence[str] = ()) -> SpfResult:
    return await check_spf("example.com", dns=FakeDns(zone), policy=SpfPolicy(tuple(ips)))


def _codes(result: SpfResult) -> set[str]:
    return {f.code for f in result.findings}


# -- B1: Unicode case folds are not mechanism names ------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 \u0131nclude:_spf.example.net -all",  # dotless i
        "v=spf1 exi\u017fts:x.example.net -all",  # long s
        "v=spf1 \u0131p4:192.0.2.1 -all",
    ],
    ids=["dotless-i-include", "long-s-exists", "dotless-i-ip4"],
)
async def test_non_ascii_mechanism_name_is_a_syntax_error_not_a_crash(record: str) -> None:
    zone = _txt("example.com", record)
    result = await _spf(zone, ["192.0.2.1"])
    assert "spf.syntax_error" in _codes(result)
    assert result.ip_results == {"192.0.2.1": "permerror"}
    evaluation = await check_host("192.0.2.1", "example.com", "a@example.com", dns=FakeDns(zone))
    assert evaluation.result is SpfOutcome.PERMERROR


# -- B2: digit transformers past Python's int-string limit -----------------------------


async def test_digit_transformer_with_5000_digits_is_evaluated() -> None:
    zone = {
        **_txt("example.com", "v=spf1 exists:%{d" + "9" * 5000 + "}.x.example.net -all"),
        ("example.com.x.example.net", "A"): ["127.0.0.2"],
    }
    result = await _spf(zone, ["192.0.2.1"])
    assert result.ip_results == {"192.0.2.1": "pass"}  # all labels of d are kept


async def test_digit_transformer_with_5000_digits_in_an_unknown_modifier_parses() -> None:
    result = await _spf(_txt("example.com", "v=spf1 foo=%{d" + "1" * 5000 + "} -all"))
    assert "spf.syntax_error" not in _codes(result)


async def test_explanation_with_4400_digits_is_expanded() -> None:
    zone = {
        **_txt("example.com", "v=spf1 -all exp=why.example.com"),
        ("why.example.com", "TXT"): ["denied %{d" + "9" * 4400 + "}"],
    }
    evaluation = await check_host("192.0.2.1", "example.com", "a@example.com", dns=FakeDns(zone))
    assert (evaluation.result, evaluation.explanation) == (SpfOutcome.FAIL, "denied example.com")


# -- B3: an include tree that includes each record many times -------------------------


def _size(node: SpfNode) -> int:
    return 1 + sum(_size(c) for c in node.children)


def _fan_out_zone(width: int, depth: int) -> dict[tuple[str, str], Sequence[str] | UnknownReason]:
    """example.com includes l0 ``width`` times, l0 includes l1 ``width`` times, ..."""
    names = [f"l{i}.example.net" for i in range(depth)]
    zone = _txt("example.com", "v=spf1 " + " ".join([f"include:{names[0]}"] * width) + " -all")
    for i, name in enumerate(names):
        body = " ".join([f"include:{names[i + 1]}"] * width) if i + 1 < depth else "ip4:192.0.2.1"
        zone |= _txt(name, f"v=spf1 {body} -all")
    return zone


async def test_repeated_includes_are_walked_once_and_the_walk_stops_past_the_limit() -> None:
    dns = FakeDns(_fan_out_zone(width=3, depth=8))  # 9841 nodes when expanded in full
    result = await check_spf("example.com", dns=dns, policy=SpfPolicy())
    tree = result.include_tree
    assert tree is not None
    assert _size(tree) < 60
    assert len(dns.queries) <= 9
    assert 10 < result.dns_lookups <= 60
    too_many = next(f for f in result.findings if f.code == "spf.too_many_lookups")
    assert too_many.detail["truncated"] == 1
    assert "at least" in too_many.message
    leaves = [tree]
    while leaves[-1].children:
        leaves.append(leaves[-1].children[-1])
    assert (leaves[-1].error or "").startswith("over limit")
    assert "spf.include_failed" not in _codes(result)


async def test_a_repeated_include_is_the_same_node_and_counted_per_occurrence() -> None:
    zone = {
        **_txt("example.com", "v=spf1 include:x.example.net include:x.example.net -all"),
        **_txt("x.example.net", "v=spf1 a:nx.example.net -all"),
    }
    result = await _spf(zone)
    assert result.include_tree is not None
    first, second = result.include_tree.children
    assert first is second
    assert (result.dns_lookups, result.void_lookups) == (2 + 2, 2)


# -- B4: long top labels, and one parse per record ------------------------------------


def test_long_top_label_is_checked_in_linear_time() -> None:
    start = time.perf_counter()
    for spec in ("x." + "a" * 100_000 + "!", "%{d}." + "a" * 100_000 + "!"):
        with pytest.raises(ValueError, match="top-level label"):
            check_domain_spec(spec)
    assert time.perf_counter() - start < 1.0  # the backtracking regex took minutes


async def test_each_record_is_parsed_once_for_the_tree_and_every_sending_ip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    parse_term = record_module._parse_term

    def counting(term: str) -> object:
        parsed.append(term)
        return parse_term(term)

    monkeypatch.setattr(record_module, "_parse_term", counting)
    zone = {
        **_txt("example.com", "v=spf1 include:x.example.net -all"),
        **_txt("x.example.net", "v=spf1 ip4:192.0.2.0/24 -all"),
    }
    result = await _spf(zone, ["192.0.2.1", "192.0.2.2", "198.51.100.1"])
    assert dict(result.ip_results) == {
        "192.0.2.1": "pass",
        "192.0.2.2": "pass",
        "198.51.100.1": "fail",
    }
    assert sorted(parsed) == sorted(["include:x.example.net", "-all", "ip4:192.0.2.0/24", "-all"])


# -- B8: one address type answers, the other fails ------------------------------------


async def test_a_timeout_beside_an_answer_is_not_a_failure() -> None:
    zone = {
        **_txt("example.com", "v=spf1 a:mail.example.com -all"),
        ("mail.example.com", "A"): ["192.0.2.1"],
        ("mail.example.com", "AAAA"): UnknownReason.TIMEOUT,
    }
    result = await _spf(zone, ["192.0.2.1"])
    assert (result.status, result.findings, result.void_lookups) == (CheckStatus.OK, (), 0)


async def test_a_timeout_with_no_answer_is_a_failure() -> None:
    zone = {
        **_txt("example.com", "v=spf1 a:mail.example.com ip4:192.0.2.1 -all"),
        ("mail.example.com", "A"): UnknownReason.TIMEOUT,
        ("mail.example.com", "AAAA"): UnknownReason.TIMEOUT,
    }
    result = await _spf(zone)
    failed = next(f for f in result.findings if f.code == "spf.lookup_failed")
    assert (
        failed.detail["failures"] == "A mail.example.com: timeout; AAAA mail.example.com: timeout"
    )
    assert result.status is CheckStatus.UNKNOWN


# -- B9: void lookups per address family ----------------------------------------------


async def test_voids_are_counted_per_family_and_the_worse_family_reported() -> None:
    hosts = ("v6a", "v6b", "v6c")
    record = "v=spf1 " + " ".join(f"a:{h}.example.com" for h in hosts) + " ip4:192.0.2.1 -all"
    zone = _txt("example.com", record)
    zone |= {(f"{h}.example.com", "AAAA"): ["2001:db8::1"] for h in hosts}
    result = await _spf(zone, ["192.0.2.1"])
    assert result.ip_results == {"192.0.2.1": "permerror"}  # three A voids at evaluation
    assert result.void_lookups == 3
    voids = next(f for f in result.findings if f.code == "spf.too_many_void_lookups")
    assert (voids.detail["family"], voids.detail["void_lookups_ipv4"]) == ("IPv4", 3)
    assert voids.detail["void_lookups_ipv6"] == 0


async def test_mx_hosts_and_exists_are_counted_per_family() -> None:
    zone = {
        **_txt("example.com", "v=spf1 mx a:c.example.com exists:nx.example.com -all"),
        ("example.com", "MX"): ["10 a.example.com.", "20 b.example.com."],
        ("a.example.com", "A"): ["192.0.2.1"],
        ("b.example.com", "AAAA"): ["2001:db8::1"],
        ("c.example.com", "A"): ["192.0.2.2"],
    }
    result = await _spf(zone)
    voids = next(f for f in result.findings if f.code == "spf.too_many_void_lookups")
    # IPv4: b, nx (exists asks for A whatever the family); IPv6: a, c, nx
    assert (voids.detail["void_lookups_ipv4"], voids.detail["void_lookups_ipv6"]) == (2, 3)
    assert (voids.detail["family"], result.void_lookups) == ("IPv6", 3)


# -- B10: terms after all --------------------------------------------------------------


async def test_terms_after_all_are_not_counted_and_are_reported() -> None:
    tail = " ".join(f"a:x{i}.example.com" for i in range(11))
    zone = _txt("example.com", f"v=spf1 ip4:192.0.2.1 -all {tail} include:nx.example.com")
    result = await _spf(zone, ["192.0.2.1"])
    assert (result.dns_lookups, result.void_lookups) == (0, 0)
    assert result.include_tree is not None
    assert result.include_tree.children == ()
    assert _codes(result) == {"spf.terms_after_all"}
    finding = result.findings[0]
    assert finding.detail["count"] == 12
    assert result.status is CheckStatus.WARN


# -- D8: sending IPs concurrently; null MX ------------------------------------------


class _GatedDns(FakeDns):
    """Holds every ``*.ips.example.com`` query until ``expected`` of them are waiting."""

    def __init__(self, zone: Zone, expected: int) -> None:
        super().__init__(zone)
        self.expected = expected
        self.waiting = 0
        self.released = asyncio.Event()

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome:
        if name.endswith(".ips.example.com"):
            self.waiting += 1
            if self.waiting == self.expected:
                self.released.set()
            try:
                await asyncio.wait_for(self.released.wait(), 2.0)
            except TimeoutError:
                return Unknown(name, UnknownReason.TIMEOUT)
        return await super().query(name, rdtype, rate_key=rate_key)


async def test_sending_ips_are_evaluated_concurrently() -> None:
    ips = ("192.0.2.1", "192.0.2.2", "192.0.2.3")
    zone = _txt("example.com", "v=spf1 exists:%{i}.ips.example.com -all")
    zone |= {(f"{ip}.ips.example.com", "A"): ["127.0.0.2"] for ip in ips}
    dns = _GatedDns(zone, expected=len(ips))
    result = await check_spf("example.com", dns=dns, policy=SpfPolicy(ips))
    assert dict(result.ip_results) == dict.fromkeys(ips, "pass")
    assert list(result.ip_results) == list(ips)


async def test_null_mx_is_not_one_of_the_ten_mx_names() -> None:
    mx = [f"{i} mx{i}.example.com." for i in range(10)] + ["0 ."]
    zone = {**_txt("example.com", "v=spf1 mx -all"), ("example.com", "MX"): mx}
    zone |= {(f"mx{i}.example.com", "A"): [f"198.51.100.{i}"] for i in range(10)}
    zone |= {(f"mx{i}.example.com", "AAAA"): ["2001:db8::1"] for i in range(10)}
    zone |= {("mx9.example.com", "A"): ["192.0.2.1"]}
    evaluation = await check_host("192.0.2.1", "example.com", "a@example.com", dns=FakeDns(zone))
    assert evaluation.result is SpfOutcome.PASS
    result = await _spf(zone, ["192.0.2.1"])
    assert "spf.mx_too_many_hosts" not in _codes(result)
    assert result.status is CheckStatus.OK
