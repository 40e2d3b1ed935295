"""Pins target parsing and RFC 5782 §2.1/§2.4 query labels (checks/dnsbl/targets.py)."""

from __future__ import annotations

import ipaddress

import pytest

from checks.dnsbl.targets import TargetError, TargetKind, ip_query_label, parse_target

RFC5782_V6 = "2001:db8:1:2:3:4:567:89ab"
RFC5782_V6_LABEL = "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("192.0.2.99", "99.2.0.192"),
        ("127.0.0.2", "2.0.0.127"),
        (RFC5782_V6, RFC5782_V6_LABEL),
        ("::ffff:7f00:2", "2.0.0.0.0.0.f.7.f.f.f.f." + "0." * 19 + "0"),
    ],
    ids=["ipv4", "ipv4-test-point", "ipv6-rfc5782-example", "ipv6-test-point"],
)
def test_ip_query_label_reverses_octets_or_nibbles(text: str, label: str) -> None:
    assert ip_query_label(ipaddress.ip_address(text)) == label


@pytest.mark.parametrize(
    ("text", "canonical", "version", "label"),
    [
        ("192.0.2.99", "192.0.2.99", 4, "99.2.0.192"),
        ("  192.0.2.99\n", "192.0.2.99", 4, "99.2.0.192"),
        (RFC5782_V6, RFC5782_V6, 6, RFC5782_V6_LABEL),
        ("2001:DB8:1:2:3:4:567:89AB", RFC5782_V6, 6, RFC5782_V6_LABEL),
        ("::ffff:192.0.2.99", "192.0.2.99", 4, "99.2.0.192"),
        ("::ffff:c000:263", "192.0.2.99", 4, "99.2.0.192"),
    ],
    ids=[
        "ipv4",
        "ipv4-with-whitespace",
        "ipv6-rfc5782-example",
        "ipv6-uppercase",
        "ipv4-mapped-dotted",
        "ipv4-mapped-hex",
    ],
)
def test_parse_target_ip(text: str, canonical: str, version: int, label: str) -> None:
    target = parse_target(text)
    assert target.kind is TargetKind.IP
    assert target.text == canonical
    assert target.ip_version == version
    assert target.query_label == label


@pytest.mark.parametrize(
    ("text", "canonical", "registered"),
    [
        ("example.com", "example.com", "example.com"),
        ("www.example.co.uk", "www.example.co.uk", "example.co.uk"),
        ("a.b.c.example.com", "a.b.c.example.com", "example.com"),
        ("bücher.example", "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("www.bücher.de", "www.xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("example.com.", "example.com", "example.com"),
        ("WWW.Example.COM", "www.example.com", "example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
    ids=[
        "registered-domain",
        "host-under-co-uk",
        "deep-host",
        "idn-to-a-label",
        "idn-host-to-a-label",
        "trailing-dot",
        "uppercase",
        "a-label-kept",
    ],
)
def test_parse_target_domain_queries_the_registered_domain(
    text: str, canonical: str, registered: str
) -> None:
    target = parse_target(text)
    assert target.kind is TargetKind.DOMAIN
    assert target.ip_version is None
    assert target.text == canonical
    assert target.query_label == registered


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "co.uk",
        "com",
        "exa_mple.com",
        "-example.com",
        "a..example.com",
        "exa mple.com",
        "a" * 64 + ".com",
        ".".join(["a" * 60] * 5) + ".com",
        "127.0.0.1:25",
        "2001:db8::zz",
        "1.2.3",
        "fe80::1%eth0",
    ],
    ids=[
        "empty",
        "blank",
        "public-suffix",
        "tld",
        "underscore-label",
        "leading-hyphen",
        "empty-label",
        "space",
        "label-over-63",
        "name-over-253",
        "ip-with-port",
        "bad-ipv6",
        "all-numeric-tld",
        "scoped-ipv6",
    ],
)
def test_parse_target_refuses_with_target_error(text: str) -> None:
    with pytest.raises(TargetError):
        parse_target(text)


def test_parse_target_ipv4_with_trailing_dot_is_the_ip_not_a_domain() -> None:
    # Trailing dots are stripped from domains; an IP typed the same way must not become the
    # "domain" 192.0.2.1 whose registered part "2.1" would be sent to domain lists.
    target = parse_target("192.0.2.1.")
    assert target.kind is TargetKind.IP
    assert target.text == "192.0.2.1"
