"""SPF record selection and parsing (RFC 7208 §4.5, §4.6, §5, §6, §12)."""

from __future__ import annotations

import ipaddress

import pytest

from checks.spf.record import (
    MechanismKind,
    Qualifier,
    SpfSyntaxError,
    is_spf_record,
    parse_record,
    select_records,
)


@pytest.mark.parametrize(
    ("text", "is_spf"),
    [
        ("v=spf1", True),
        ("v=spf1 -all", True),
        ("V=SpF1 -all", True),
        ("v=spf10 -all", False),
        ("v=spf1foo -all", False),
        ("spf1 -all", False),
        ("v=DMARC1; p=none", False),
    ],
)
def test_version_section_is_exactly_v_spf1_then_space_or_end(text: str, is_spf: bool) -> None:
    assert is_spf_record(text) is is_spf


def test_select_records_keeps_only_spf_strings() -> None:
    assert select_records(["google-site-verification=x", "v=spf1 -all", "v=spf10"]) == [
        "v=spf1 -all"
    ]


def test_parses_every_mechanism_with_qualifiers_and_cidrs() -> None:
    record = parse_record(
        "v=spf1 +a -mx:mail.example.com/24 ~ptr ?ip4:192.0.2.0/24 ip6:2001:db8::/32 "
        "exists:%{i}.bl.example.com include:_spf.example.net a:host.example.com/24//64 -all"
    )
    kinds = [m.kind for m in record.mechanisms]
    assert kinds == [
        MechanismKind.A,
        MechanismKind.MX,
        MechanismKind.PTR,
        MechanismKind.IP4,
        MechanismKind.IP6,
        MechanismKind.EXISTS,
        MechanismKind.INCLUDE,
        MechanismKind.A,
        MechanismKind.ALL,
    ]
    qualifiers = [m.qualifier for m in record.mechanisms[:4]]
    assert qualifiers == [Qualifier.PASS, Qualifier.FAIL, Qualifier.SOFTFAIL, Qualifier.NEUTRAL]
    assert record.mechanisms[1].domain_spec == "mail.example.com"
    assert record.mechanisms[1].cidr4 == 24
    assert record.mechanisms[3].network == ipaddress.ip_network("192.0.2.0/24")
    assert (record.mechanisms[7].cidr4, record.mechanisms[7].cidr6) == (24, 64)
    assert record.dns_terms == 6


def test_mechanism_names_are_case_insensitive() -> None:
    record = parse_record("v=spf1 IP4:147.75.8.208 -ALL")
    assert [m.kind for m in record.mechanisms] == [MechanismKind.IP4, MechanismKind.ALL]


def test_modifiers_redirect_exp_and_unknown() -> None:
    record = parse_record("v=spf1 redirect=_spf.example.com exp=why.%{d} moo.cow-far_out=x:y/z")
    assert record.redirect == "_spf.example.com"
    assert record.exp == "why.%{d}"
    assert [m.name for m in record.modifiers] == ["moo.cow-far_out"]
    assert record.dns_terms == 1


def test_redirect_after_all_is_not_counted() -> None:
    assert parse_record("v=spf1 -all redirect=example.net").dns_terms == 0


def test_colon_and_slash_may_appear_in_a_domain_spec() -> None:
    record = parse_record("v=spf1 a:foo:bar/baz.example.com")
    assert record.mechanisms[0].domain_spec == "foo:bar/baz.example.com"


@pytest.mark.parametrize(
    ("record", "term"),
    [
        ("v=spf1 ip4:1.2.3.4 -all moo", "moo"),
        ("v=spf1 -all.", "-all."),
        ("v=spf1 -all:foobar", "-all:foobar"),
        ("v=spf1 ptr/0 -all", "ptr/0"),
        ("v=spf1 a/33 -all", "a/33"),
        ("v=spf1 a//129 -all", "a//129"),
        ("v=spf1 a/24/64 -all", "a/24/64"),
        ("v=spf1 ip4:1.2.3.4/032", "ip4:1.2.3.4/032"),
        ("v=spf1 ip4:1.2.3", "ip4:1.2.3"),
        ("v=spf1 ip4:78.46.96.236/99 ~all", "ip4:78.46.96.236/99"),
        ("v=spf1 ip4:relay.mailchannels.net ~all", "ip4:relay.mailchannels.net"),
        ("v=spf1 ip6:78.46.96.236 ~all", "ip6:78.46.96.236"),
        ("v=spf1 ip6::CAFE::BABE", "ip6::CAFE::BABE"),
        ("v=spf1 ip4:8.8.8.8~all", "ip4:8.8.8.8~all"),
        ("v=spf1 include: -all", "include:"),
        ("v=spf1 a:museum", "a:museum"),
        ("v=spf1 redirect:example.com", "redirect:example.com"),
        ("v=spf1 redirect=a.example.com redirect=b.example.com", "redirect=b.example.com"),
        ("v=spf1 exp=a.example.com exp=b.example.com -all", "exp=b.example.com"),
        ("v=spf1 exp= -all", "exp="),
        ("v=spf1 =all", "=all"),
        ("v=spf1 1up=foo", "1up=foo"),
        ("v=spf1 foo=%abc", "foo=%abc"),
        ("v=spf1 ip4:192.0.2.5\n include:example.com", "ip4:192.0.2.5\n"),
        ("v=spf1 -redirect=example.com", "-redirect=example.com"),
    ],
)
def test_syntax_errors_name_the_offending_term(record: str, term: str) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        parse_record(record)
    assert caught.value.term == term


def test_runs_of_spaces_and_trailing_space_are_allowed() -> None:
    assert len(parse_record("v=spf1 a  -all ").mechanisms) == 2


@pytest.mark.parametrize(
    "term", ["\u0131nclude:example.net", "exi\u017fts:example.net", "\u0131p4:192.0.2.1", "\u017f"]
)
def test_unicode_case_folds_of_mechanism_names_are_syntax_errors(term: str) -> None:
    with pytest.raises(SpfSyntaxError) as raised:
        parse_record(f"v=spf1 {term} -all")
    assert raised.value.term == term


def test_mechanisms_after_all_are_not_evaluated_or_counted() -> None:
    record = parse_record("v=spf1 a -all mx include:example.net redirect=example.org")
    assert [m.text for m in record.evaluated_mechanisms] == ["a", "-all"]
    assert [m.text for m in record.unreachable_mechanisms] == ["mx", "include:example.net"]
    assert record.dns_terms == 1
