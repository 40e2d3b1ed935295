"""SPF macro strings (RFC 7208 §7): the §7.4 examples, syntax rules, escaping, truncation."""

from __future__ import annotations

import ipaddress

import pytest

from checks.spf.macro import (
    MacroSyntaxError,
    MacroValues,
    check_domain_spec,
    expand,
    ip_macro_values,
    parse_macro_string,
    truncate_domain,
)


def _values(ip: str = "192.0.2.3", sender: str = "strong-bad@email.example.com") -> MacroValues:
    i, v, c = ip_macro_values(ipaddress.ip_address(ip))
    local, _, domain = sender.partition("@")
    return MacroValues(
        sender=sender,
        local_part=local,
        sender_domain=domain,
        domain="email.example.com",
        ip=i,
        validated_name="unknown",
        ip_version=v,
        helo="mx.example.org",
        client_ip=c,
    )


RFC_7208_EXAMPLES = [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
]


@pytest.mark.parametrize(
    ("macro", "expected"), RFC_7208_EXAMPLES, ids=[m for m, _ in RFC_7208_EXAMPLES]
)
def test_rfc7208_section_7_4_examples_expand_as_printed(macro: str, expected: str) -> None:
    assert expand(parse_macro_string(macro), _values()) == expected


def test_ipv6_i_macro_expands_to_lower_case_nibbles_as_in_rfc7208_7_4() -> None:
    values = _values(ip="2001:db8::cb01")
    expected = "1.0.b.c." + "0." * 20 + "8.b.d.0.1.0.0.2.ip6._spf.example.com"
    assert expand(parse_macro_string("%{ir}.%{v}._spf.%{d2}"), values) == expected


def test_upper_case_letter_url_escapes_the_value() -> None:
    values = _values(sender="~jack&jill=up-a_b3.c@example.com")
    assert expand(parse_macro_string("%{L}"), values) == "~jack%26jill%3Dup-a_b3.c"


def test_escapes_percent_space_and_url_space() -> None:
    assert parse_macro_string("a%%b%_c%-d") == ("a%b c%20d",)


def test_multiple_delimiters_split_on_each() -> None:
    values = _values(sender="foo-bar+zip+quux@example.com")
    assert expand(parse_macro_string("%{l2r+-}"), values) == "bar.foo"


def test_c_macro_is_the_compressed_ipv6_address() -> None:
    tokens = parse_macro_string("%{c}", explanation=True)
    assert expand(tokens, _values(ip="CAFE:BABE::1")) == "cafe:babe::1"


@pytest.mark.parametrize(
    "text",
    ["%{z}", "%(ir)", "foo%", "%{d0}", "%{i", "a b", "caf\u00e9"],
    ids=[
        "unknown-letter",
        "parenthesis",
        "bare-percent",
        "zero-digits",
        "unclosed",
        "space",
        "non-ascii",
    ],
)
def test_malformed_macro_strings_are_rejected(text: str) -> None:
    with pytest.raises(MacroSyntaxError):
        parse_macro_string(text)


@pytest.mark.parametrize("letter", ["c", "r", "t"])
def test_explanation_only_letters_are_rejected_in_domain_specs(letter: str) -> None:
    with pytest.raises(MacroSyntaxError):
        parse_macro_string(f"%{{{letter}}}.example.com")
    assert parse_macro_string(f"%{{{letter}}} text", explanation=True)


@pytest.mark.parametrize(
    "spec",
    ["example.com", "example.com.", "%{d}", "%{i}.bl.example.com", "foo.example.xn--zckzah"],
)
def test_valid_domain_specs(spec: str) -> None:
    assert check_domain_spec(spec)


@pytest.mark.parametrize(
    "spec",
    ["", "museum", "museum.", "example.-com", "abc.123", "mail.example...com", "a" * 64 + ".com"],
)
def test_invalid_domain_specs(spec: str) -> None:
    with pytest.raises(MacroSyntaxError):
        check_domain_spec(spec)


def test_truncation_drops_left_labels_until_253_characters() -> None:
    name = "foobar." + "somewhat.long.exp.example.com." * 8 + "example.com"
    truncated = truncate_domain(name)
    assert len(truncated) <= 253
    assert truncated == "somewhat.long.exp.example.com." * 8 + "example.com"


def test_digit_transformers_past_the_int_string_limit_keep_every_part() -> None:
    (macro,) = parse_macro_string("%{d" + "9" * 5000 + "}")
    assert not isinstance(macro, str)
    assert macro.digits is not None
    assert macro.digits >= 1_000_000
    assert expand((macro,), _values()) == "email.example.com"
    (padded,) = parse_macro_string("%{d" + "0" * 5000 + "2}")
    assert not isinstance(padded, str)
    assert padded.digits == 2
    with pytest.raises(MacroSyntaxError, match="zero digit"):
        parse_macro_string("%{d" + "0" * 5000 + "}")


@pytest.mark.parametrize(
    ("label", "valid"),
    [
        ("com", True),
        ("com.", True),
        ("a", True),
        ("x1", True),
        ("123", False),
        ("xn--zckzah", True),
        ("1-2", True),
        ("-com", False),
        ("com-", False),
        ("1-", False),
        ("c_m", False),
        ("a" * 100_000 + "!", False),
    ],
)
def test_top_label_grammar(label: str, valid: bool) -> None:
    if valid:
        assert check_domain_spec(f"%{{d}}.{label}")
    else:
        with pytest.raises(MacroSyntaxError):
            check_domain_spec(f"%{{d}}.{label}")
