"""Pins config parsing and validation (monitor/config.py) and zone selection
(monitor/checking/zones.py)."""

from __future__ import annotations

import logging

import pytest

from checks.dns.outcome import Answer, RdataType
from checks.dnsbl.catalogue import Match, ZoneKind, load_catalogue
from checks.dnsbl.verdict import Verdict, evaluate_answer
from monitor.checking.runner import build_resolver
from monitor.checking.zones import select_zones
from monitor.config import Config, parse_config, parse_duration, resolve_secret
from monitor.model.errors import ConfigError

CATALOGUE = load_catalogue()
DQS_KEY = "abcdefghijklmnopqrstuvwxyz"


def problem_paths(error: ConfigError) -> set[str]:
    """The dotted path before ': ' in each problem."""
    return {p.split(":", 1)[0] for p in error.problems}


# --- parse_config --------------------------------------------------------------------------


def test_empty_config_gives_defaults() -> None:
    config = parse_config("")
    assert config == Config()
    assert config.dns.nameservers == ["127.0.0.1:53"]
    assert config.auth_dns is None
    assert config.dnsbl.zones is None
    assert parse_duration(config.dnsbl.interval) == 15 * 60
    assert config.domains == []


def test_log_section_takes_a_level_in_any_case_and_text_or_json() -> None:
    config = parse_config('[log]\nlevel = "debug"\nformat = "json"\n')
    assert (config.log.level, config.log.format) == ("DEBUG", "json")
    assert (Config().log.level, Config().log.format) == (None, "text")  # the command decides
    with pytest.raises(ConfigError) as caught:
        parse_config('[log]\nlevel = "loud"\nformat = "xml"\n')
    assert problem_paths(caught.value) == {"log.level", "log.format"}


def test_valid_config_parses() -> None:
    config = parse_config(
        """
        [dns]
        nameservers = ["127.0.0.1:5353", "[::1]:53", "192.0.2.53"]
        [dnsbl]
        zones = ["zen.spamhaus.org"]
        interval = "1h"
        [[domains]]
        name = "Example.COM."
        sending_ips = ["192.0.2.10", "2001:DB8::10"]
        """
    )
    assert config.dns.nameservers == ["127.0.0.1:5353", "[::1]:53", "192.0.2.53"]
    assert config.dnsbl.zones == ["zen.spamhaus.org"]
    assert config.domains[0].name == "example.com"
    assert config.domains[0].sending_ips == ["192.0.2.10", "2001:db8::10"]


def test_config_with_several_errors_lists_every_one() -> None:
    text = """
    [dns]
    nameservers = ["resolver.example:53"]
    colour = "blue"
    [dnsbl]
    interval = "15 minutes"
    [[domains]]
    name = "192.0.2.1"
    """
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="test.toml")
    assert problem_paths(info.value) == {
        "dns.nameservers",
        "dns.colour",
        "dnsbl.interval",
        "domains.0.name",
    }
    assert info.value.source == "test.toml"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("[dns]\nnameservers = []", "dns.nameservers"),
        ('[dns]\nnameservers = ["127.0.0.1:0"]', "dns.nameservers"),
        ('[dns]\nnameservers = ["127.0.0.1:99999"]', "dns.nameservers"),
        ("[dns]\ntimeout = 0", "dns.timeout"),
        ("[dns]\nattempts = 0", "dns.attempts"),
        ("[dns.rate_limits]\n'zen.spamhaus.org' = 0", "dns.rate_limits.zen.spamhaus.org"),
        ('[dnsbl]\ninterval = "15"', "dnsbl.interval"),
        ("[dnsbl]\nconcurrency = 0", "dnsbl.concurrency"),
        ('[[domains]]\nname = "co.uk"', "domains.0.name"),
        (
            '[[domains]]\nname = "example.com"\nsending_ips = ["mail.example.com"]',
            "domains.0.sending_ips",
        ),
        ("[bogus]\nx = 1", "bogus"),
        ('[[dnsbl.custom_zones]]\nid = "x.example"\nkind = "ipv7"', "dnsbl.custom_zones.0.kind"),
        (
            '[[dnsbl.custom_zones]]\nid = "x.example"\n[[dnsbl.custom_zones.errors]]\n'
            'value = "127.0.0.1"\nreason = "Bad Reason"',
            "dnsbl.custom_zones.0.errors.0.reason",
        ),
        ('[http]\ningest_token = ""', "http.ingest_token"),
        ('[http]\nadmin_token = "  "', "http.admin_token"),
    ],
    ids=[
        "no-nameservers",
        "nameserver-port-0",
        "nameserver-port-too-big",
        "zero-timeout",
        "zero-attempts",
        "zero-rate-limit",
        "interval-without-unit",
        "zero-concurrency",
        "domain-is-public-suffix",
        "sending-ip-not-an-ip",
        "unknown-section",
        "custom-zone-bad-kind",
        "custom-zone-bad-error-reason",
        "empty-ingest-token",
        "blank-admin-token",
    ],
)
def test_config_error_names_the_dotted_path(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert path in problem_paths(info.value)


def test_invalid_toml_is_one_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[dns\nnameservers = ")
    assert len(info.value.problems) == 1


# --- resolve_secret and parse_duration ------------------------------------------------------


def test_resolve_secret_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERMON_TEST_SECRET", "s3cret")
    assert resolve_secret("env:DELIVERMON_TEST_SECRET") == "s3cret"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_resolve_secret_unset_or_empty_env_is_none(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("DELIVERMON_TEST_SECRET", raising=False)
    else:
        monkeypatch.setenv("DELIVERMON_TEST_SECRET", value)
    assert resolve_secret("env:DELIVERMON_TEST_SECRET") is None


@pytest.mark.parametrize("literal", ["s3cret", "ENV:NOT_A_REF", "environment"])
def test_resolve_secret_passes_a_literal_through(literal: str) -> None:
    assert resolve_secret(literal) == literal


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (" 5m ", 300)],
    ids=["seconds", "minutes", "hours", "days", "surrounding-space"],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "15", "m", "1.5h", "-1m", "15 m", "1w", "15M", "15mm"],
    ids=[
        "empty",
        "no-unit",
        "no-number",
        "fraction",
        "negative",
        "inner-space",
        "weeks",
        "uppercase-unit",
        "double-unit",
    ],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


# --- select_zones --------------------------------------------------------------------------


def test_select_zones_default_is_the_recommended_set() -> None:
    zones = select_zones(parse_config(""), CATALOGUE)
    assert [z.id for z in zones] == [z.id for z in CATALOGUE.recommended()]


def test_select_zones_uses_configured_zones() -> None:
    config = parse_config('[dnsbl]\nzones = ["bl.spamcop.net", "dbl.spamhaus.org"]')
    assert [z.id for z in select_zones(config, CATALOGUE)] == ["bl.spamcop.net", "dbl.spamhaus.org"]


def test_select_zones_override_replaces_the_configured_set() -> None:
    config = parse_config('[dnsbl]\nzones = ["bl.spamcop.net", "dbl.spamhaus.org"]')
    zones = select_zones(config, CATALOGUE, override=["psbl.surriel.com"])
    assert [z.id for z in zones] == ["psbl.surriel.com"]


def test_select_zones_drops_duplicates() -> None:
    zones = select_zones(
        parse_config(""), CATALOGUE, override=["bl.spamcop.net", "BL.SPAMCOP.NET."]
    )
    assert [z.id for z in zones] == ["bl.spamcop.net"]


def test_select_zones_unknown_zone_is_a_generic_ipv4_zone() -> None:
    (zone,) = select_zones(parse_config(""), CATALOGUE, override=["BL.Example.NET."])
    assert zone.id == "bl.example.net"
    assert zone.query_zone == "bl.example.net"
    assert zone.kind is ZoneKind.IP
    assert zone.ipv4
    assert not zone.ipv6
    assert zone.match is Match.ANY
    assert zone.custom


def test_select_zones_refuses_a_zone_name_that_is_no_name() -> None:
    with pytest.raises(ConfigError) as info:
        select_zones(
            parse_config('[dnsbl]\nzones = ["not a zone!!", "..", "ok.example"]'), CATALOGUE
        )
    assert len(info.value.problems) == 2
    assert all(p.startswith("dnsbl.zones: ") for p in info.value.problems)


def test_select_zones_refuses_settings_named_for_nothing() -> None:
    # A typo in a name-keyed setting would silently disable it.
    config = parse_config(
        '[dns.rate_limits]\n"zen.spamhuas.org" = 5\n"bl.spamcop.net" = 2\n'
        '[dnsbl.keys]\nspamhaus_dq = "abc"'
    )
    with pytest.raises(ConfigError) as info:
        select_zones(config, CATALOGUE)
    rate, key = info.value.problems
    assert rate.startswith("dns.rate_limits: 'zen.spamhuas.org' is no zone")
    assert "did you mean 'zen.spamhaus.org'?" in rate
    assert key.startswith("dnsbl.keys: 'spamhaus_dq' is no key")
    assert "did you mean 'spamhaus_dqs'?" in key


def test_select_zones_says_when_a_custom_zone_replaces_the_catalogues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config(
        '[dnsbl]\nzones = ["zen.spamhaus.org"]\n'
        '[[dnsbl.custom_zones]]\nid = "zen.spamhaus.org"\nkind = "domain"\n'
        '[[dnsbl.custom_zones]]\nid = "unused.example"\n'
    )
    with caplog.at_level(logging.WARNING):
        (zone,) = select_zones(config, CATALOGUE)
    assert zone.kind is ZoneKind.DOMAIN
    said = [r.getMessage() for r in caplog.records]
    assert any("zen.spamhaus.org replaces the catalogue's entry" in m for m in said), said
    assert any("unused.example is not in [dnsbl] zones" in m for m in said), said


def test_select_zones_says_when_a_generic_zone_looks_like_a_catalogue_typo(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config('[dnsbl]\nzones = ["dbl.spamhuas.org", "bl.example.net"]\n')
    with caplog.at_level(logging.WARNING):
        zones = select_zones(config, CATALOGUE)
    assert [z.kind for z in zones] == [ZoneKind.IP, ZoneKind.IP]  # generic, as documented
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "zone dbl.spamhuas.org is not in the catalogue: asked as a generic IPv4 list; "
        "did you mean 'dbl.spamhaus.org'?"
    ]


def test_select_zones_keyed_zone_without_key_names_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DELIVERMON_SPAMHAUS_DQS_KEY", raising=False)
    config = parse_config(
        '[dnsbl]\nzones = ["zen.dq.spamhaus.net"]\n'
        '[dnsbl.keys]\nspamhaus_dqs = "env:DELIVERMON_SPAMHAUS_DQS_KEY"'
    )
    with pytest.raises(ConfigError) as info:
        select_zones(config, CATALOGUE)
    (problem,) = info.value.problems
    assert "zen.dq.spamhaus.net" in problem
    assert "spamhaus_dqs" in problem


def test_select_zones_keyed_zone_takes_its_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERMON_SPAMHAUS_DQS_KEY", DQS_KEY)
    config = parse_config(
        '[dnsbl]\nzones = ["zen.dq.spamhaus.net", "dbl.dq.spamhaus.net"]\n'
        '[dnsbl.keys]\nspamhaus_dqs = "env:DELIVERMON_SPAMHAUS_DQS_KEY"'
    )
    zones = select_zones(config, CATALOGUE)
    assert [z.id for z in zones] == ["zen.dq.spamhaus.net", "dbl.dq.spamhaus.net"]
    for zone in zones:
        assert DQS_KEY in zone.query_zone
        assert DQS_KEY not in zone.id
        assert zone.has_key


def test_select_zones_keyed_zone_with_bad_key_is_a_config_error() -> None:
    config = parse_config(
        '[dnsbl]\nzones = ["zen.dq.spamhaus.net"]\n[dnsbl.keys]\nspamhaus_dqs = "not a key"'
    )
    with pytest.raises(ConfigError) as info:
        select_zones(config, CATALOGUE)
    assert len(info.value.problems) == 1
    assert "not a key" not in str(info.value)


def test_select_zones_uses_a_custom_domain_zone_with_bitmask_codes() -> None:
    config = parse_config(
        """
        [dnsbl]
        zones = ["uri.example.net"]
        [[dnsbl.custom_zones]]
        id = "uri.example.net"
        kind = "domain"
        match = "bitmask"
        severity = "minor"
        codes = [{bit = 2, meaning = "black"}, {bit = 4, meaning = "grey", severity = "info"}]
        errors = [{value = "127.0.0.1", reason = "query_refused"}]
        """
    )
    (zone,) = select_zones(config, CATALOGUE)
    assert zone.id == "uri.example.net"
    assert zone.custom
    assert zone.kind is ZoneKind.DOMAIN
    assert zone.match is Match.BITMASK
    assert [c.bit for c in zone.codes] == [2, 4]
    answer = Answer("example.com.uri.example.net", RdataType.A, ("127.0.0.6",), 60)
    result = evaluate_answer(zone, answer)
    assert result.verdict is Verdict.LISTED
    assert result.severity is not None
    assert result.severity.value == "minor"
    refused = Answer("example.com.uri.example.net", RdataType.A, ("127.0.0.1",), 60)
    assert evaluate_answer(zone, refused).error == "query_refused"


def test_select_zones_invalid_custom_zone_is_a_config_error() -> None:
    config = parse_config(
        """
        [[dnsbl.custom_zones]]
        id = "uri.example.net"
        match = "bitmask"
        codes = [{value = "127.0.0.2"}]
        """
    )
    with pytest.raises(ConfigError) as info:
        select_zones(config, CATALOGUE)
    assert all(p.startswith("dnsbl.custom_zones.uri.example.net") for p in info.value.problems)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[dns]\ntimout = 1.0\n", "dns.timout: unknown key (did you mean timeout?)"),
        (
            '[[domains]]\nname = "example.com"\nsending_ip = ["192.0.2.1"]\n',
            "domains.0.sending_ip: unknown key (did you mean sending_ips?)",
        ),
        ("[dns]\nzzz = 1\n", "dns.zzz: unknown key"),
        (
            '[dnsbl]\ninterval = "5 minutes"\n',
            "dnsbl.interval: a duration is a whole number above 0 and a unit (s, m, h, d)",
        ),
    ],
)
def test_a_mistyped_key_or_duration_says_what_was_meant(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    assert any(p.startswith(problem) for p in refused.value.problems), refused.value.problems
    if "did you mean" not in problem and "unknown key" in problem:
        assert "did you mean" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ('[telemetry.snds]\nkey = "k"\ninterval = "1s"\n', False),
        ('[telemetry.gmail]\ncredentials = "/c.json"\ninterval = "59s"\n', False),
        ('[telemetry.snds]\nkey = "k"\ninterval = "1m"\n', True),
        # A loopback stand-in (a test server) may be asked as often as its test likes.
        (
            '[telemetry.snds]\nkey = "k"\ninterval = "2s"\nbase_url = "http://127.0.0.1:9/snds"\n',
            True,
        ),
    ],
)
def test_telemetry_is_not_imported_more_than_once_a_minute_from_the_services(
    text: str, accepted: bool
) -> None:
    if accepted:
        parse_config(text)
        return
    with pytest.raises(ConfigError, match=r"interval .* is under a minute"):
        parse_config(text)


def test_a_domain_or_campaign_configured_twice_is_refused() -> None:
    # The last entry used to win silently: the first one's selectors and IPs were dropped.
    with pytest.raises(ConfigError) as info:
        parse_config(
            '[[domains]]\nname = "example.com"\ndkim_selectors = ["s1"]\n'
            '[[domains]]\nname = "Example.COM."\nsending_ips = ["192.0.2.10"]\n'
            '[[campaigns]]\nid = "spring"\ncategory = "commercial"\n'
            '[[campaigns]]\nid = "spring"\ncategory = "transactional"\n'
        )
    domains, campaigns = info.value.problems
    assert domains.startswith("domains: ")
    assert "'example.com' in entries 0 and 1" in domains
    assert campaigns.startswith("campaigns: ")
    assert "'spring' in entries 0 and 1" in campaigns


def test_dkim_selectors_are_lower_case_and_one_given_twice_is_refused() -> None:
    # DNS labels: "S1" and "s1" are one key; two checks and two alert keys for it
    # announced one resolved and the other firing on a reload that changed the case.
    config = parse_config('[[domains]]\nname = "example.com"\ndkim_selectors = ["S1", "a0"]\n')
    assert config.domains[0].dkim_selectors == ["s1", "a0"]
    with pytest.raises(ConfigError) as info:
        parse_config('[[domains]]\nname = "example.com"\ndkim_selectors = ["s1", "S1"]\n')
    (problem,) = info.value.problems
    assert "selector given twice (case does not count): s1" in problem


def test_a_string_is_no_number_or_boolean() -> None:
    # Lax parsing took timeout = "1" as 1.0 and notify_existing = "yes" as true: a value
    # quoted by mistake, or a word the setting does not know, went through unseen.
    with pytest.raises(ConfigError) as info:
        parse_config('[dns]\ntimeout = "1"\nattempts = "3"\n[alerts]\nnotify_existing = "yes"\n')
    assert [p.split(":")[0] for p in info.value.problems] == [
        "dns.timeout",
        "dns.attempts",
        "alerts.notify_existing",
    ]
    # Names still read as what they name; an integer is a number.
    config = parse_config(
        '[dns]\ntimeout = 1\n[[dnsbl.custom_zones]]\nid = "bl.example.net"\nkind = "domain"\n'
    )
    assert config.dns.timeout == 1.0
    assert config.dnsbl.custom_zones[0].kind is ZoneKind.DOMAIN


def test_the_complaint_warning_must_be_below_the_critical_line() -> None:
    with pytest.raises(ConfigError, match=r"complaint_warning \(0\.5\) must be below"):
        parse_config("[alerts]\ncomplaint_warning = 0.5\ncomplaint_critical = 0.1\n")


def test_every_bad_sending_ip_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            '[[domains]]\nname = "example.com"\n'
            'sending_ips = ["300.1.1.1", "192.0.2.10", "192.0.2.0/24"]\n'
        )
    (problem,) = info.value.problems
    assert "'300.1.1.1'" in problem
    assert "'192.0.2.0/24'" in problem
    assert "'192.0.2.10'" not in problem


@pytest.mark.parametrize(
    "key",
    [
        "dnsbl.interval",
        "schedule.selftest_interval",
        "schedule.auth_interval",
        "schedule.drift_interval",
        "schedule.purge_interval",
        "schedule.metrics_interval",
        "schedule.notify_interval",
        "metrics.campaign_window",
        "metrics.new_series_hold",
        "alerts.flap_window",
        "bounces.log_interval",
        "dmarc.interval",
        "imap.interval",
        "telemetry.gmail.interval",
        "telemetry.snds.interval",
    ],
)
def test_a_duration_longer_than_366_days_is_refused_naming_its_key(key: str) -> None:
    # "3000000d" passed `config check`, then crashed `run` (the scheduler's first run
    # time overflowed the calendar) and half-applied on reload.
    section, name = key.rsplit(".", 1)
    required = {
        "imap": 'host = "imap.example.com"\nusername = "u"\npassword = "p"\n',
        "telemetry.gmail": 'credentials = "/c.json"\n',
        "telemetry.snds": 'key = "k"\n',
    }.get(section, "")
    for days, accepted in (("366d", True), ("367d", False), ("3000000d", False)):
        text = f'[{section}]\n{required}{name} = "{days}"\n'
        if accepted:
            parse_config(text)
            continue
        with pytest.raises(ConfigError) as refused:
            parse_config(text)
        assert refused.value.problems == (f"{key}: a duration is at most 366d; got {days!r}",)


def test_a_rate_limit_is_keyed_by_the_zone_id_whatever_the_case_or_final_dot() -> None:
    # The name was checked in lower case without its dot, but looked up as written
    # against the lower-case zone id: "ZEN.Spamhaus.org" passed and limited nothing.
    config = parse_config('[dns.rate_limits]\n"ZEN.Spamhaus.org" = 2\n"bl.spamcop.net." = 3\n')
    select_zones(config, CATALOGUE)
    limits = build_resolver(config.dns).config.rate_limits
    assert limits == {"zen.spamhaus.org": 2.0, "bl.spamcop.net": 3.0}


def test_two_rate_limits_for_one_zone_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[dns.rate_limits]\n"zen.spamhaus.org" = 2\n"ZEN.spamhaus.org." = 5\n')
    (problem,) = info.value.problems
    assert problem.startswith("dns.rate_limits: ")
    assert "'zen.spamhaus.org' and 'ZEN.spamhaus.org.' are one zone, zen.spamhaus.org" in problem


def test_a_toml_date_or_time_is_refused_wherever_it_is() -> None:
    # They were turned into their text (json.dumps(default=str)): an unquoted date went
    # through as a token, a campaign id or a DKIM selector.
    with pytest.raises(ConfigError) as info:
        parse_config(
            "[http]\ningest_token = 2026-11-01T00:00:00Z\n"
            "[[campaigns]]\nid = 2026-11-01\ncategory = 'commercial'\n"
            "[[domains]]\nname = 'example.com'\ndkim_selectors = ['s1', 2026-01-01]\n"
            "[dns]\ntimeout = 07:32:00\n"
        )
    assert info.value.problems == tuple(
        f"{key}: a TOML date or time, which no key takes (quote a string)"
        for key in (
            "http.ingest_token",
            "campaigns.0.id",
            "domains.0.dkim_selectors.1",
            "dns.timeout",
        )
    )


@pytest.mark.parametrize(
    ("listen", "accepted"),
    [
        ("127.0.0.1:9640", True),
        ("0.0.0.0:9640", True),
        ("[::1]:9640", True),
        ("[::]:9640", True),
        ("localhost:9640", True),
        ("LocalHost:9640", True),
        ("nohost:22005", False),  # passed, then `run` could not resolve it
        ("metrics.example.com:9640", False),
        ("::1:9640", False),
        ("[127.0.0.1]:9640", False),
        ("127.0.0.1:0", False),
        ("127.0.0.1:65536", False),
        ("127.0.0.1", False),
    ],
)
def test_http_listen_is_an_ip_address_or_localhost_and_a_port(listen: str, accepted: bool) -> None:
    text = f'[http]\nlisten = "{listen}"\n'
    if accepted:
        assert parse_config(text).http.listen == listen
        return
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    (problem,) = info.value.problems
    assert problem.startswith("http.listen: listen must be IP:PORT"), problem


@pytest.mark.parametrize(
    ("text", "key", "named"),
    [
        (
            '[[campaigns]]\nid = "spring"\ncategory = "commercial"\n'
            'sending_domain = "not a domain!!"\n',
            "campaigns.0.sending_domain",
            "not a domain!!",
        ),
        (
            '[feedback]\ncampaign_headers = ["X-Campaign-ID", "", "Bad Header:"]\n',
            "feedback.campaign_headers",
            "'', 'Bad Header:'",
        ),
        (
            '[[domains]]\nname = "example.com"\n'
            'sending_ips = ["::ffff:192.0.2.10", "192.0.2.10"]\n',
            "domains.0.sending_ips",
            "address given twice",
        ),
    ],
    ids=["campaign-sending-domain", "campaign-headers", "mapped-sending-ip"],
)
def test_values_with_a_shape_are_checked_naming_the_key(text: str, key: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    (problem,) = info.value.problems
    assert problem.startswith(f"{key}: "), problem
    assert named in problem


def test_a_campaign_sending_domain_is_read_as_a_domain_name() -> None:
    config = parse_config(
        '[[campaigns]]\nid = "spring"\ncategory = "commercial"\nsending_domain = "Example.COM."\n'
    )
    assert config.campaigns[0].sending_domain == "example.com"


def test_each_key_auth_dns_does_not_set_is_the_dns_sections() -> None:
    # "[auth_dns] default [dns]" held only for an absent section: one giving only a
    # timeout asked the built-in 127.0.0.1:53, not [dns]'s resolvers.
    config = parse_config(
        '[dns]\nnameservers = ["192.0.2.53", "[2001:db8::53]:5353"]\nattempts = 3\n'
        "cache_entries = 10\n[auth_dns]\ntimeout = 1.0\nattempts = 1\n"
    )
    assert config.auth_dns is not None
    assert config.auth_dns.nameservers == ["192.0.2.53", "[2001:db8::53]:5353"]
    assert (config.auth_dns.timeout, config.auth_dns.attempts) == (1.0, 1)
    assert config.auth_dns.cache_entries == 10
    assert parse_config("[dns]\ntimeout = 5.0\n").auth_dns is None  # absent: [dns] itself


def test_every_bad_nameserver_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[dns]\nnameservers = ["ns1.example.com", "127.0.0.1:53", "192.0.2.1:0"]\n')
    (problem,) = info.value.problems
    assert problem.startswith("dns.nameservers: ")
    assert "'ns1.example.com'" in problem
    assert "192.0.2.1:0" in problem
