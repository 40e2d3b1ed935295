"""Pins the bundled DNSBL zone catalogue (checks/dnsbl/catalogue.toml) and its loader."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from checks.dnsbl.catalogue import (
    Catalogue,
    CatalogueError,
    Match,
    ZoneKind,
    ZoneSpec,
    load_catalogue,
    parse_zone,
)

CATALOGUE = load_catalogue()
ZONES = CATALOGUE.zones
ZONE_IDS = [z.id for z in ZONES]

REQUIRED_ZONES = [
    "zen.spamhaus.org",
    "sbl.spamhaus.org",
    "xbl.spamhaus.org",
    "pbl.spamhaus.org",
    "dbl.spamhaus.org",
    "zen.dq.spamhaus.net",
    "sbl.dq.spamhaus.net",
    "xbl.dq.spamhaus.net",
    "pbl.dq.spamhaus.net",
    "dbl.dq.spamhaus.net",
    "zrd.dq.spamhaus.net",
    "bl.spamcop.net",
    "b.barracudacentral.org",
    "multi.uribl.com",
    "multi.surbl.org",
    "psbl.surriel.com",
    "bl.mailspike.net",
    "dnsbl-1.uceprotect.net",
    "dnsbl-2.uceprotect.net",
    "dnsbl-3.uceprotect.net",
    "combined.mail.abusix.zone",
]
DEAD_LISTS = [
    "sorbs",
    "msrbl",
    "manitu",
    "lashback",
    "ahbl",
    "njabl",
    "megarbl",
    "emailbasura",
    "dsbl",
    "ordb",
]
SPAMHAUS_ERRORS = {
    "127.255.255.252": "typo_zone_name",
    "127.255.255.254": "public_resolver",
    "127.255.255.255": "excessive_queries",
}
SPAMHAUS_ZONES = [z for z in ZONES if z.operator == "Spamhaus"]
KEYED_ZONES = [z for z in ZONES if z.requires_key]


def zone(zone_id: str) -> ZoneSpec:
    spec = CATALOGUE.get(zone_id)
    assert spec is not None, f"{zone_id} is not in the catalogue"
    return spec


def test_bundled_catalogue_loads_with_a_version_and_zones() -> None:
    assert isinstance(CATALOGUE, Catalogue)
    assert CATALOGUE.version != "unversioned"
    assert len(ZONES) >= len(REQUIRED_ZONES)


def test_zone_ids_are_unique() -> None:
    assert len(ZONE_IDS) == len(set(ZONE_IDS))


@pytest.mark.parametrize("zone_id", REQUIRED_ZONES, ids=REQUIRED_ZONES)
def test_catalogue_contains_zone(zone_id: str) -> None:
    assert zone_id in ZONE_IDS


@pytest.mark.parametrize("dead", DEAD_LISTS, ids=DEAD_LISTS)
def test_catalogue_contains_no_dead_list(dead: str) -> None:
    offenders = [z.id for z in ZONES if dead in z.id or dead in z.query_zone]
    assert offenders == []


def test_spamhaus_zones_are_found_by_operator() -> None:
    # guards the parametrisation below against an empty list
    assert len(SPAMHAUS_ZONES) >= 11


@pytest.mark.parametrize("spec", SPAMHAUS_ZONES, ids=[z.id for z in SPAMHAUS_ZONES])
def test_every_spamhaus_zone_maps_the_127_255_255_error_codes(spec: ZoneSpec) -> None:
    errors = {e.value: e.reason for e in spec.errors}
    for value, reason in SPAMHAUS_ERRORS.items():
        assert errors.get(value) == reason, value


@pytest.mark.parametrize(
    "zone_id", ["dbl.spamhaus.org", "dbl.dq.spamhaus.net"], ids=["dbl", "dbl-dqs"]
)
def test_dbl_maps_127_0_1_255_to_ip_sent_to_domain_list(zone_id: str) -> None:
    errors = {e.value: e.reason for e in zone(zone_id).errors}
    assert errors["127.0.1.255"] == "ip_sent_to_domain_list"


@pytest.mark.parametrize("zone_id", ["multi.uribl.com", "multi.surbl.org"], ids=["uribl", "surbl"])
def test_uri_lists_are_bitmask_and_map_127_0_0_1_to_query_refused(zone_id: str) -> None:
    spec = zone(zone_id)
    assert spec.kind is ZoneKind.DOMAIN
    assert spec.match is Match.BITMASK
    assert {e.value: e.reason for e in spec.errors}["127.0.0.1"] == "query_refused"
    assert all(c.bit is not None for c in spec.codes)
    assert not any(c.bit is not None and c.bit & 1 for c in spec.codes)


def test_keyed_zones_exist() -> None:
    assert {"zen.dq.spamhaus.net", "combined.mail.abusix.zone"} <= {z.id for z in KEYED_ZONES}


@pytest.mark.parametrize("spec", KEYED_ZONES, ids=[z.id for z in KEYED_ZONES])
def test_keyed_zone_has_placeholder_in_query_zone_but_not_in_id(spec: ZoneSpec) -> None:
    assert "{key}" in spec.query_zone
    assert "{" not in spec.id
    assert spec.key_name
    assert not spec.has_key


@pytest.mark.parametrize("spec", KEYED_ZONES, ids=[z.id for z in KEYED_ZONES])
def test_with_key_fills_the_query_zone_and_keeps_the_id(spec: ZoneSpec) -> None:
    keyed = spec.with_key("abcdefghijklmnopqrstuvwxyz")
    assert keyed.has_key
    assert keyed.query_zone.startswith("abcdefghijklmnopqrstuvwxyz.")
    assert keyed.id == spec.id
    assert "abcdefghijklmnopqrstuvwxyz" not in keyed.id


@pytest.mark.parametrize(
    "key",
    ["", "abc.def", "abc def", "key;rm", "abc/def", "{key}", "abc\x00", "ключ", "abc²"],
    ids=[
        "empty",
        "dot",
        "space",
        "semicolon",
        "slash",
        "braces",
        "control-char",
        "non-ascii-letters",
        "non-ascii-digit",
    ],
)
def test_with_key_refuses_a_non_alphanumeric_key(key: str) -> None:
    with pytest.raises(CatalogueError):
        zone("zen.dq.spamhaus.net").with_key(key)


RECOMMENDED = CATALOGUE.recommended()


def test_recommended_set_is_not_empty() -> None:
    assert {"zen.spamhaus.org", "dbl.spamhaus.org"} <= {z.id for z in RECOMMENDED}


@pytest.mark.parametrize("spec", RECOMMENDED, ids=[z.id for z in RECOMMENDED])
def test_recommended_zone_needs_no_key_and_no_registration(spec: ZoneSpec) -> None:
    assert not spec.requires_key
    assert spec.has_key
    assert not spec.requires_registration


def test_barracuda_requires_registration() -> None:
    assert zone("b.barracudacentral.org").requires_registration


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("spec", ZONES, ids=ZONE_IDS)
def test_every_zone_has_test_points_of_its_kind(spec: ZoneSpec) -> None:
    assert spec.test_listed
    assert spec.test_not_listed
    points = spec.test_listed + spec.test_not_listed
    if spec.kind is ZoneKind.DOMAIN:
        assert not any(_is_ip(p) for p in points)
        assert not spec.ipv4
        assert not spec.ipv6
        return
    assert all(ipaddress.ip_address(p).version == 4 for p in points)
    if spec.ipv6:
        assert spec.test_listed_v6
        assert spec.test_not_listed_v6
        v6_points = spec.test_listed_v6 + spec.test_not_listed_v6
        assert all(ipaddress.ip_address(p).version == 6 for p in v6_points)
    else:
        assert not spec.test_listed_v6
        assert not spec.test_not_listed_v6


@pytest.mark.parametrize("spec", ZONES, ids=ZONE_IDS)
def test_every_zone_code_is_inside_127_8(spec: ZoneSpec) -> None:
    loopback = ipaddress.ip_network("127.0.0.0/8")
    values = [c.value for c in spec.codes if c.value] + [e.value for e in spec.errors]
    assert all(ipaddress.ip_address(v) in loopback for v in values)


@pytest.mark.parametrize("spec", ZONES, ids=ZONE_IDS)
def test_no_zone_code_is_both_a_listing_and_an_error(spec: ZoneSpec) -> None:
    errors = {e.value for e in spec.errors}
    assert not errors & {c.value for c in spec.codes}


def test_catalogue_get_finds_by_id_case_insensitively_and_with_trailing_dot() -> None:
    assert zone("ZEN.Spamhaus.ORG.").id == "zen.spamhaus.org"
    assert CATALOGUE.get("nonexistent.example") is None


# --- reporting every problem at once -------------------------------------------------------

BAD_CATALOGUE = """
version = "test"

[[zone]]
id = "ok.example"
kind = "ip"

[[zone]]
id = "badkind.example"
kind = "ipv7"

[[zone]]
id = "badkey.example"
query_zone = "badkey.example"
requires_key = true
"""


def test_load_catalogue_reports_every_broken_zone_at_once(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text(BAD_CATALOGUE, "utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    problems = info.value.problems
    assert len(problems) == 2
    assert any(p.startswith("zone #1:") and "kind" in p for p in problems)
    assert any(p.startswith("zone #2:") and "requires_key" in p for p in problems)


def test_load_catalogue_reports_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text('[[zone]]\nid = "a.example"\n\n[[zone]]\nid = "A.example."\n', "utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert any("a.example" in p for p in info.value.problems)


def test_load_catalogue_reports_invalid_toml_as_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text("[[zone]\nid = ", "utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert len(info.value.problems) == 1


def test_parse_zone_reports_every_problem_of_one_entry() -> None:
    entry = {
        "id": "broken.example",
        "kind": "ipv7",
        "match": "exact",
        "severity": "apocalyptic",
        "code": [{"meaning": "no value"}],
        "error": [{"value": "127.0.0.1"}],
    }
    with pytest.raises(CatalogueError) as info:
        parse_zone(entry)
    problems = info.value.problems
    assert any(p.startswith("kind ") for p in problems)
    assert any(p.startswith("severity ") for p in problems)
    assert any("'value'" in p for p in problems)
    assert any("lacks reason" in p for p in problems)
    assert len(problems) == 4


def test_parse_zone_defaults_give_an_rfc5782_ipv4_zone() -> None:
    spec = parse_zone({"id": "bl.example.net"})
    assert spec.kind is ZoneKind.IP
    assert spec.match is Match.ANY
    assert spec.ipv4
    assert not spec.ipv6
    assert spec.query_zone == "bl.example.net"
    assert spec.test_listed == ("127.0.0.2",)
    assert spec.test_not_listed == ("127.0.0.1",)


def test_parse_zone_refuses_test_points_codes_and_names_that_can_never_work() -> None:
    # Each would only show at run time: a self-test that crashes, or a code no answer
    # can match.
    entry = {
        "id": "crash.example",
        "query_zone": "not a zone!!",
        "match": "bitmask",
        "code": [{"bit": 4096}, {"bit": -1}, {"bit": 3}],
        "error": [{"value": "banana", "reason": "odd"}, {"value": "10.0.0.1", "reason": "odd"}],
        "test_listed": ["notanip"],
        "test_not_listed": ["::1"],
        "test_listed_v6": ["127.0.0.2"],
    }
    with pytest.raises(CatalogueError) as info:
        parse_zone(entry, custom=True)
    problems = info.value.problems
    assert any(p.startswith("query_zone: 'not a zone!!'") for p in problems)
    assert sum("is not a mask of the last octet" in p for p in problems) == 2
    assert any("error value 'banana' is not an IPv4 address" in p for p in problems)
    assert any("error value '10.0.0.1' is outside 127.0.0.0/8" in p for p in problems)
    assert any("test_listed 'notanip' is not an IPv4 address" in p for p in problems)
    assert any("test_not_listed '::1' is not an IPv4 address" in p for p in problems)
    assert any("test_listed_v6 '127.0.0.2' is not an IPv6 address" in p for p in problems)
    assert len(problems) == 8


def test_parse_zone_takes_a_name_in_any_script_as_its_a_labels() -> None:
    assert parse_zone({"id": "ипбл.example"}, custom=True).id == "xn--90anko.example"
    with pytest.raises(CatalogueError, match="numeric top-level"):
        parse_zone({"id": "127.0.0.1"}, custom=True)
    with pytest.raises(CatalogueError):
        parse_zone({"id": "a..b.example"}, custom=True)
