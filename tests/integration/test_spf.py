"""check_spf end to end against a real NSD: a zone per case, a case per finding and status rule."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver
from zonefile import txt

from checks.spf import SpfPolicy, SpfResult, check_spf
from checks.status import CheckStatus

IP = "192.0.2.10"


async def _check(
    server: NsdServer | str,
    ips: Sequence[str] = (),
    domain: str = "example.com",
    wait: float = 2.0,
) -> SpfResult:
    address = server if isinstance(server, str) else server.address
    async with stub_resolver(address, timeout=wait, attempts=1) as dns:
        return await check_spf(domain, dns=dns, policy=SpfPolicy(sending_ips=tuple(ips)))


def _codes(result: SpfResult) -> set[str]:
    return {f.code for f in result.findings}


ELEVEN_A = "v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(11)) + " -all"
SIX_A = "v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(6)) + " -all"
LONG = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(1, 30)) + " -all"

# (id, example.com zone lines, example.net zone lines, expected code, expected status)
CASES = [
    ("missing-nodata", ["www IN A 192.0.2.1"], [], "spf.missing", CheckStatus.FAIL),
    (
        "missing-only-other-txt",
        ['@ IN TXT "google-site-verification=x"'],
        [],
        "spf.missing",
        CheckStatus.FAIL,
    ),
    (
        "multiple-records",
        [f"@ IN TXT {txt('v=spf1 -all')}", f"@ IN TXT {txt('v=spf1 +all')}"],
        [],
        "spf.multiple_records",
        CheckStatus.FAIL,
    ),
    (
        "syntax-error",
        [f"@ IN TXT {txt('v=spf1 ip4:192.0.2.300 -all')}"],
        [],
        "spf.syntax_error",
        CheckStatus.FAIL,
    ),
    (
        "too-many-lookups",
        [f"@ IN TXT {txt(ELEVEN_A)}"] + [f"h{i} IN A 192.0.2.{i + 1}" for i in range(11)],
        [],
        "spf.too_many_lookups",
        CheckStatus.FAIL,
    ),
    (
        "lookups-near-limit",
        [
            f"@ IN TXT {txt('v=spf1 include:example.net a mx -all')}",
            "@ IN A 192.0.2.1",
            "@ IN AAAA 2001:db8::1",
            "@ IN MX 10 @",
        ]
        + [f"h{i} IN A 192.0.2.{i + 1}" for i in range(6)]
        + [f"h{i} IN AAAA 2001:db8::{i + 1}" for i in range(6)],
        [f"@ IN TXT {txt(SIX_A)}"],
        "spf.lookups_near_limit",
        CheckStatus.WARN,
    ),
    (
        "too-many-void-lookups",
        [f"@ IN TXT {txt('v=spf1 a:nx1.example.com a:nx2.example.com exists:nx3.example.com')}"],
        [],
        "spf.too_many_void_lookups",
        CheckStatus.FAIL,
    ),
    ("plus-all", [f"@ IN TXT {txt('v=spf1 +all')}"], [], "spf.plus_all", CheckStatus.FAIL),
    (
        "neutral-all",
        [f"@ IN TXT {txt('v=spf1 ip4:192.0.2.0/24 ?all')}"],
        [],
        "spf.neutral_all",
        CheckStatus.WARN,
    ),
    ("no-all", [f"@ IN TXT {txt('v=spf1 ip4:192.0.2.0/24')}"], [], "spf.no_all", CheckStatus.WARN),
    (
        "redirect-ignored",
        [f"@ IN TXT {txt('v=spf1 -all redirect=example.net')}"],
        [],
        "spf.redirect_ignored",
        CheckStatus.WARN,
    ),
    (
        "ptr-mechanism",
        [f"@ IN TXT {txt('v=spf1 ptr -all')}"],
        [],
        "spf.ptr_mechanism",
        CheckStatus.WARN,
    ),
    ("record-too-long", [f"@ IN TXT {txt(LONG)}"], [], "spf.record_too_long", CheckStatus.WARN),
    (
        "include-without-record",
        [f"@ IN TXT {txt('v=spf1 include:example.net -all')}"],
        ["www IN A 192.0.2.1"],
        "spf.include_failed",
        CheckStatus.FAIL,
    ),
    (
        "include-broken-record",
        [f"@ IN TXT {txt('v=spf1 include:example.net -all')}"],
        [f"@ IN TXT {txt('v=spf1 ip4:1.2.3 -all')}"],
        "spf.include_failed",
        CheckStatus.FAIL,
    ),
    (
        "redirect-without-record",
        [f"@ IN TXT {txt('v=spf1 redirect=nothere.example.net')}"],
        [],
        "spf.include_failed",
        CheckStatus.FAIL,
    ),
    (
        "mx-too-many-hosts",
        [f"@ IN TXT {txt('v=spf1 mx -all')}"]
        + [f"@ IN MX {i} mx{i}" for i in range(11)]
        + [f"mx{i} IN A 192.0.2.{i + 1}" for i in range(11)],
        [],
        "spf.mx_too_many_hosts",
        CheckStatus.FAIL,
    ),
    (
        "macro-unresolved",
        [f"@ IN TXT {txt('v=spf1 exists:%{i}._spf.example.com -all')}"],
        [],
        "spf.macro_unresolved",
        CheckStatus.OK,
    ),
]


@pytest.mark.parametrize(
    ("example_com", "example_net", "code", "status"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
async def test_each_finding_with_its_status(
    nsd_factory: StartNsd,
    example_com: list[str],
    example_net: list[str],
    code: str,
    status: CheckStatus,
) -> None:
    server = nsd_factory({"example.com": example_com, "example.net": example_net})
    result = await _check(server)
    assert code in _codes(result)
    assert result.status is status


async def test_ok_record_whose_sending_ip_passes(nsd_factory: StartNsd) -> None:
    server = nsd_factory(
        {"example.com": [f"@ IN TXT {txt('v=spf1 a:mail.example.com -all')}", f"mail IN A {IP}"]}
    )
    result = await _check(server, ips=[IP, "2001:db8::10"])
    assert result.ip_results == {IP: "pass", "2001:db8::10": "fail"}
    assert result.record == "v=spf1 a:mail.example.com -all"
    # mail has no AAAA: an IPv6 client's evaluation makes one void lookup
    assert (result.dns_lookups, result.void_lookups) == (1, 1)
    assert _codes(result) == {"spf.sending_ip_not_permitted"}
    finding = result.findings[0]
    assert (finding.detail["ip"], finding.detail["result"]) == ("2001:db8::10", "fail")
    assert result.status is CheckStatus.FAIL


async def test_ok_when_everything_is_in_order(nsd_factory: StartNsd) -> None:
    server = nsd_factory({"example.com": [f"@ IN TXT {txt('v=spf1 ip4:192.0.2.0/24 -all')}"]})
    result = await _check(server, ips=[IP])
    assert (result.status, result.findings, dict(result.ip_results)) == (
        CheckStatus.OK,
        (),
        {IP: "pass"},
    )


async def test_split_txt_strings_are_joined_without_spaces(nsd_factory: StartNsd) -> None:
    server = nsd_factory({"example.com": ['@ IN TXT "v=spf1 ip4:192.0.2.10" " -all"']})
    result = await _check(server, ips=[IP])
    assert result.record == "v=spf1 ip4:192.0.2.10 -all"
    assert result.ip_results[IP] == "pass"


async def test_include_tree_shows_each_branch_cost(nsd_factory: StartNsd) -> None:
    server = nsd_factory(
        {
            "example.com": [
                f"@ IN TXT {txt('v=spf1 include:a.example.net include:b.example.net -all')}"
            ],
            "example.net": [
                f"a IN TXT {txt('v=spf1 a mx include:b.example.net -all')}",
                f"b IN TXT {txt('v=spf1 ip4:192.0.2.0/24 exists:b.example.net -all')}",
                "a IN A 192.0.2.1",
                "a IN MX 10 a",
                "b IN A 127.0.0.2",
            ],
        }
    )
    result = await _check(server)
    tree = result.include_tree
    assert tree is not None
    assert [(c.domain, c.own_lookups, c.total_lookups) for c in tree.children] == [
        ("a.example.net", 3, 4),
        ("b.example.net", 1, 1),
    ]
    assert result.dns_lookups == 2 + 4 + 1


async def test_timeout_is_unknown_not_missing(silent_udp_port: str) -> None:
    result = await _check(silent_udp_port, ips=[IP], wait=0.2)
    assert result.status is CheckStatus.UNKNOWN
    assert "spf.lookup_failed" in _codes(result)
    assert "spf.missing" not in _codes(result)
    assert result.ip_results == {IP: "temperror"}


async def test_servfail_is_unknown_not_missing(nsd_factory: StartNsd) -> None:
    server = nsd_factory(broken=["example.com"])
    result = await _check(server)
    assert result.status is CheckStatus.UNKNOWN
    assert _codes(result) == {"spf.lookup_failed"}
    assert result.record is None


async def test_servfail_in_an_include_is_unknown(nsd_factory: StartNsd) -> None:
    server = nsd_factory(
        {"example.com": [f"@ IN TXT {txt('v=spf1 include:example.net -all')}"]},
        broken=["example.net"],
    )
    result = await _check(server, ips=[IP])
    assert result.status is CheckStatus.UNKNOWN
    assert result.ip_results == {IP: "temperror"}
    assert "spf.include_failed" not in _codes(result)


async def test_nxdomain_is_missing(nsd_factory: StartNsd) -> None:
    server = nsd_factory({"example.com": ["www IN A 192.0.2.1"]})
    result = await _check(server, domain="nothere.example.com")
    assert _codes(result) == {"spf.missing"}
    assert result.status is CheckStatus.FAIL


async def test_void_lookups_are_counted_for_the_client_family_that_has_more(
    nsd_factory: StartNsd,
) -> None:
    # IPv6-only a: targets: an IPv4 client's evaluation makes three void A lookups
    record = "v=spf1 a:v6a.example.com a:v6b.example.com a:v6c.example.com ip4:192.0.2.10 -all"
    server = nsd_factory(
        {"example.com": [f"@ IN TXT {txt(record)}"] + [f"v6{c} IN AAAA 2001:db8::1" for c in "abc"]}
    )
    result = await _check(server, ips=[IP])
    assert result.ip_results == {IP: "permerror"}
    assert result.void_lookups == 3
    voids = next(f for f in result.findings if f.code == "spf.too_many_void_lookups")
    assert (voids.detail["family"], voids.detail["void_lookups_ipv6"]) == ("IPv4", 0)
    assert result.status is CheckStatus.FAIL


async def test_terms_after_all_are_never_counted_or_followed(nsd_factory: StartNsd) -> None:
    tail = " ".join(f"a:x{i}.example.com" for i in range(11))
    server = nsd_factory(
        {
            "example.com": [f"@ IN TXT {txt(f'v=spf1 ip4:{IP} -all {tail} include:example.net')}"]
            + [f"x{i} IN A 198.51.100.9" for i in range(11)]
        }
    )
    result = await _check(server, ips=[IP])
    assert result.ip_results == {IP: "pass"}
    assert (result.dns_lookups, result.void_lookups) == (0, 0)
    assert _codes(result) == {"spf.terms_after_all"}
    assert result.findings[0].detail["count"] == 12
    assert result.status is CheckStatus.WARN


async def test_ipv6_void_lookups_fail_only_senders_that_use_ipv6(nsd_factory: StartNsd) -> None:
    # A common provider shape: three a: hosts with A records only. An IPv4 sending IP
    # never looks for AAAA, so the three IPv6 voids are a warning, not a failure;
    # a configured IPv6 sending IP would hit them, so then they are an error.
    record = "v=spf1 a:m1.example.com a:m2.example.com a:m3.example.com ip6:2001:db8::/32 -all"
    server = nsd_factory(
        {"example.com": [f"@ IN TXT {txt(record)}"] + [f"m{i} IN A {IP}" for i in (1, 2, 3)]}
    )
    v4_only = await _check(server, ips=[IP])
    assert v4_only.ip_results == {IP: "pass"}
    (warning,) = [f for f in v4_only.findings if f.code == "spf.too_many_void_lookups"]
    assert (warning.severity.value, warning.detail["family"]) == ("warning", "IPv6")
    assert v4_only.status is CheckStatus.WARN
    with_v6 = await _check(server, ips=[IP, "2001:db8::25"])
    assert with_v6.ip_results["2001:db8::25"] == "permerror"
    (error,) = [f for f in with_v6.findings if f.code == "spf.too_many_void_lookups"]
    assert error.severity.value == "error"
    assert with_v6.status is CheckStatus.FAIL


async def test_a_failed_include_is_said_in_the_checked_domains_tree(nsd_factory: StartNsd) -> None:
    # It used to say "include:example.net in example.net's tree": the include's target
    # where the checked domain belongs.
    server = nsd_factory(
        {"example.com": [f"@ IN TXT {txt('v=spf1 include:example.net -all')}"], "example.net": []}
    )
    result = await _check(server)
    (finding,) = [f for f in result.findings if f.code == "spf.include_failed"]
    assert finding.message == (
        "include:example.net in example.com's SPF tree: no SPF record at example.net"
    )


REVERSE = "2.0.192.in-addr.arpa"


async def test_ptr_decided_by_a_confirmed_name_passes(nsd_factory: StartNsd) -> None:
    """The control for the two below: the same zones with every lookup answered."""
    server = nsd_factory(
        {
            "example.com": [f"@ IN TXT {txt('v=spf1 ptr -all')}", f"mail IN A {IP}"],
            REVERSE: ["10 IN PTR mail.example.com."],
        }
    )
    result = await _check(server, ips=[IP])
    assert result.ip_results == {IP: "pass"}


async def test_a_failed_ptr_lookup_is_unknown_not_a_fail(nsd_factory: StartNsd) -> None:
    """RFC 7208 §5.5 lets a receiver read a DNS error as "no match" (so "-all" fails the
    IP); delivermon's own resolver failing says nothing of the receiver's: temperror."""
    server = nsd_factory(
        {"example.com": [f"@ IN TXT {txt('v=spf1 ptr -all')}", f"mail IN A {IP}"]},
        broken=[REVERSE],
    )
    result = await _check(server, ips=[IP])
    assert result.ip_results == {IP: "temperror"}
    assert result.status is CheckStatus.UNKNOWN
    assert "spf.sending_ip_not_permitted" not in _codes(result)


async def test_a_failed_address_lookup_of_a_ptr_name_is_unknown(nsd_factory: StartNsd) -> None:
    server = nsd_factory(
        {
            "example.com": [f"@ IN TXT {txt('v=spf1 ptr:example.net -all')}"],
            REVERSE: ["10 IN PTR mail.example.net."],
        },
        broken=["example.net"],
    )
    result = await _check(server, ips=[IP])
    assert result.ip_results == {IP: "temperror"}
    assert result.status is CheckStatus.UNKNOWN
