"""The daemon's composition in process, with a clock the test moves: campaign alerts that
go quiet, alerts of targets removed from the config, readiness without DNSBL zones.

The scheduler runs but its DNS jobs have nothing to reach (a closed loopback port);
the tests call the jobs they examine directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from daemon import offline_config
from dnsserver import NsdServer, StartNsd
from zonefile import txt

from checks.dnsbl.catalogue import load_catalogue
from monitor.alerting.rules import record_observations as observe_records
from monitor.checking.plans import build_plan
from monitor.checking.sharding import Shard
from monitor.checking.states import CheckName, CheckState
from monitor.checking.zones import select_zones
from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.daemon.checkjobs import zones_to_test
from monitor.daemon.queries import Readiness
from monitor.daemon.scheduler import Scheduler
from monitor.model.alerts import AlertKind, AlertPolicy, AlertStatus, Observation, step
from monitor.model.events import Category, Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.risk.scorer import RiskView, alert_level

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


# A config that checks one sending domain, example.com (no DNSBL zones).
IP = "192.0.2.10"
EXAMPLE_COM = '[[domains]]\nname = "example.com"\n'


def config_text(tmp_path: Path, zones: Sequence[str] = (), domains: str = "") -> str:
    return offline_config(
        f"sqlite:///{tmp_path / 'd.db'}",
        zones=zones,
        extra=f"[alerts]\nresolve_after = 2\n{domains}",
    )


StartDaemon = Callable[[str, Clock], Awaitable[Daemon]]


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[StartDaemon]:
    daemons: list[Daemon] = []

    async def start(text: str, clock: Clock) -> Daemon:
        path = tmp_path / "delivermon.toml"
        path.write_text(text)
        daemon = Daemon(
            parse_config(text), DaemonOptions(config_path=path, listen="127.0.0.1:0"), clock=clock
        )
        await daemon.start()
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        await daemon.stop()


def events(campaign: str, at: dt.datetime, delivered: int, complaints: int) -> list[Event]:
    def one(kind: EventType, count: int) -> Event:
        return Event(
            type=kind,
            campaign=campaign,
            provider=Provider.GOOGLE,
            category=Category.COMMERCIAL,
            occurred_at=at,
            count=count,
            source=Source.API,
        )

    return [one(EventType.DELIVERED, delivered), one(EventType.COMPLAINT, complaints)]


async def alert(daemon: Daemon, key: str) -> tuple[AlertStatus, bool] | None:
    record = (await daemon.store.load_alerts([key])).get(key)
    return None if record is None else (record.status, record.notified)


async def test_a_campaign_alert_resolves_when_the_campaign_goes_quiet_and_fires_again(
    started: StartDaemon, tmp_path: Path
) -> None:
    clock = Clock()
    daemon = await started(config_text(tmp_path), clock)
    await daemon.services.feedback.campaigns()  # the first evaluation (no data yet)
    key = "complaint_rate:weekly"
    store = daemon.store
    p = Pseudonymizer(b"0123456789abcdef0123456789abcdef")  # the config's key
    await store.add_events(events("weekly", T0 - dt.timedelta(hours=1), 2000, 10), p)
    await daemon.services.feedback.campaigns()
    assert await alert(daemon, key) == (AlertStatus.FIRING, True)
    # Two days later the campaign has sent nothing within the 24 h window.
    for hours in (48, 49):
        clock.now = T0 + dt.timedelta(hours=hours)
        await daemon.services.feedback.campaigns()
    assert await alert(daemon, key) == (AlertStatus.RESOLVED, True)
    # A week later it spikes again: announced again, not swallowed as "still firing".
    clock.now = T0 + dt.timedelta(days=7)
    await store.add_events(events("weekly", clock.now - dt.timedelta(hours=1), 2000, 10), p)
    await daemon.services.feedback.campaigns()
    assert await alert(daemon, key) == (AlertStatus.FIRING, True)


async def test_alerts_of_a_target_removed_from_the_config_are_retired(
    started: StartDaemon, tmp_path: Path
) -> None:
    clock = Clock()
    text = config_text(tmp_path, domains=EXAMPLE_COM)
    daemon = await started(text, clock)
    policy = AlertPolicy()
    gone = Observation(
        "listed:192.0.2.99:zen.example",
        AlertKind.LISTED,
        True,
        labels={"target": "192.0.2.99", "zone": "zen.example"},
        title="listed",
    )
    kept = Observation(
        "record_broken:spf:example.com",
        AlertKind.RECORD_BROKEN,
        True,
        labels={"target": "example.com", "check": "spf"},
        title="spf broken",
    )
    for obs in (gone, kept):
        base = step(None, Observation(obs.key, obs.kind, False, labels=obs.labels), T0, policy)
        fired = step(base.record, obs, T0, policy)
        assert fired.record is not None
        await daemon.store.save_alerts([fired.record], [], now=T0)
    await daemon._retire_unwatched()
    assert await alert(daemon, gone.key) == (AlertStatus.RESOLVED, True)
    assert await alert(daemon, kept.key) == (AlertStatus.FIRING, True)


async def test_telemetry_alerts_of_untracked_domains_and_ips_are_retired(
    started: StartDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IP that no sending_ips lists (one removed from the config, or one fired on by a
    version that alerted on every IP of the SNDS account) and a Gmail domain no longer
    imported: their firing alerts resolve, announced; a configured IP's stands."""
    monkeypatch.setenv("INPROCESS_SNDS_KEY", "k")
    snds = (
        '[telemetry.snds]\nkey = "env:INPROCESS_SNDS_KEY"\n'
        'base_url = "http://127.0.0.1:9/snds"\ninterval = "1d"\n'
    )
    domains = f'[[domains]]\nname = "example.com"\nsending_ips = ["{IP}"]\n{snds}'
    daemon = await started(config_text(tmp_path, domains=domains), Clock())
    policy = AlertPolicy()
    firing = [
        Observation(f"snds_filter:{IP}", AlertKind.SNDS_FILTER, True, labels={"ip": IP}),
        Observation(
            "snds_filter:192.0.2.99", AlertKind.SNDS_FILTER, True, labels={"ip": "192.0.2.99"}
        ),
        Observation(
            "snds_blocked:192.0.2.98", AlertKind.SNDS_BLOCKED, True, labels={"ip": "192.0.2.98"}
        ),
        Observation(
            "gmail_spam_rate:example.org",
            AlertKind.GMAIL_SPAM_RATE,
            True,
            labels={"domain": "example.org"},
        ),
        Observation("snds_unconfigured", AlertKind.SNDS_UNCONFIGURED, True),
    ]
    for obs in firing:
        base = step(None, Observation(obs.key, obs.kind, False, labels=obs.labels), T0, policy)
        fired = step(base.record, obs, T0, policy)
        assert fired.record is not None
        await daemon.store.save_alerts([fired.record], [], now=T0)
    await daemon._retire_unwatched()
    assert await alert(daemon, f"snds_filter:{IP}") == (AlertStatus.FIRING, True)
    assert await alert(daemon, "snds_unconfigured") == (AlertStatus.FIRING, True)
    for key in ("snds_filter:192.0.2.99", "snds_blocked:192.0.2.98", "gmail_spam_rate:example.org"):
        assert await alert(daemon, key) == (AlertStatus.RESOLVED, True), key
    retired = (await daemon.store.load_alerts(["snds_filter:192.0.2.99"]))["snds_filter:192.0.2.99"]
    assert "192.0.2.99 is in no sending_ips" in retired.title


async def test_ready_without_any_dnsbl_zone(started: StartDaemon, tmp_path: Path) -> None:
    text = config_text(tmp_path, domains=EXAMPLE_COM)
    daemon = await started(text, Clock())
    await daemon.services.dnsbl.sweep()
    daemon.scheduler.status("sweep").last_success = 1e12  # type: ignore[union-attr]
    ready, components = await Readiness(
        daemon.runtime, daemon.store, daemon.scheduler, daemon.services.dnsbl
    ).check()
    assert components["resolver"] == {
        "ok": True,
        "zones_healthy": 0,
        "zones_tested": 0,
        "unhealthy_zones": [],
        "unhealthy_families": [],
    }
    assert ready


@pytest.mark.parametrize(
    ("level", "complete", "unknown", "expected"),
    [
        pytest.param("critical", True, (), "critical", id="known"),
        pytest.param("ok", False, (), None, id="incomplete-is-unknown"),
        pytest.param("ok", True, ("listing_major",), None, id="unknown-listing-below-threshold"),
        pytest.param(
            "high", True, ("listing_major",), "high", id="unknown-listing-above-threshold"
        ),
        pytest.param("ok", True, ("dmarc_weak",), None, id="unknown-check-below-threshold"),
        pytest.param("high", True, ("fcrdns_missing",), "high", id="unknown-check-above-threshold"),
        pytest.param("ok", True, ("complaint_rate",), "ok", id="rate-below-its-guard-is-clear"),
        pytest.param("ok", True, (), "ok", id="clear"),
    ],
)
def test_risk_level_never_reads_a_lower_bound_as_clear(
    level: str, complete: bool, unknown: tuple[str, ...], expected: str | None
) -> None:
    listing = any(u.startswith("listing_") for u in unknown)
    risk = RiskView(10, level, {}, complete=complete, unknown_listing=listing, unknown=unknown)
    assert alert_level(risk, "elevated") == expected


async def save(daemon: Daemon, states: list[CheckState]) -> None:
    """The check jobs' save: keep what the current plan checks, store it, update the cache."""
    await daemon.services.auth._save(daemon.runtime.current.plan, states)


async def announce(daemon: Daemon) -> None:
    await daemon.services.alerts.announce_record_changes(
        daemon.runtime.current.plan.owned, daemon.states.snapshot()
    )


def spf_state(record: str, at: dt.datetime) -> CheckState:
    detail = json.dumps({"record": record})
    fingerprint = hashlib.sha256(record.encode()).hexdigest()
    return CheckState("example.com", CheckName.SPF, "", "ok", None, detail, fingerprint, at)


async def test_a_record_change_is_announced_once_even_across_a_crash(
    started: StartDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scheduler is not started: its drift job would check example.com at start against
    # the dead nameserver and store "unknown" between the test's own save and announce.
    # The test plays the jobs' part (save, then crash, then announce) in a fixed order.
    monkeypatch.setattr(Scheduler, "start", lambda self: None)
    clock = Clock()
    text = config_text(tmp_path, domains=EXAMPLE_COM)
    daemon = await started(text, clock)
    key = "record_changed:spf:example.com"
    await save(daemon, [spf_state("v=spf1 -all", T0)])
    await announce(daemon)
    assert await daemon.store.load_alerts([key]) == {}  # first seen: not a change
    changed_at = T0 + dt.timedelta(minutes=15)
    clock.now = changed_at
    # The new state is stored, then the process dies before it announces the change.
    await save(daemon, [spf_state("v=spf1 include:_spf.example.net -all", changed_at)])
    await daemon.stop()

    clock.now = T0 + dt.timedelta(minutes=30)
    again = await started(text, clock)
    await announce(again)
    record = (await again.store.load_alerts([key]))[key]
    assert record.started_at == changed_at
    assert record.notified
    assert "include:_spf.example.net" in record.text
    clock.now = T0 + dt.timedelta(minutes=45)
    await announce(again)  # nothing new: the same record, untouched
    assert (await again.store.load_alerts([key]))[key].updated_at == record.updated_at


async def test_states_of_a_target_dropped_by_a_reload_are_not_written_back(
    started: StartDaemon, tmp_path: Path
) -> None:
    # A sweep that began before a reload finishes after it: what it found for a
    # target the new config no longer has must not come back into the store.
    text = config_text(tmp_path, domains=EXAMPLE_COM)
    daemon = await started(text, Clock())
    gone = CheckState("old.example", CheckName.SPF, "", "ok", None, "{}", None, T0)
    kept = spf_state("v=spf1 -all", T0)
    await save(daemon, [gone, kept])
    stored = {s.target for s in await daemon.store.latest_states(check=CheckName.SPF)}
    assert stored == {"example.com"}
    assert daemon.states.get(("old.example", "spf", "")) is None


def test_a_zone_is_self_tested_by_its_owner_even_when_no_target_there_uses_it() -> None:
    catalogue = load_catalogue()
    text = '[dnsbl]\nzones = ["zen.spamhaus.org", "dbl.spamhaus.org"]\n'
    text += '[[domains]]\nname = "example.com"\n'  # a domain: only dbl applies to it
    config = parse_config(text)
    zones = select_zones(config, catalogue)
    tested = {
        shard: {z.id for z in zones_to_test(build_plan(config.domains, zones, Shard(shard, 2)))}
        for shard in (0, 1)
    }
    owner = next(i for i in (0, 1) if Shard(i, 2).owns_zone("zen.spamhaus.org"))
    domain_owner = next(i for i in (0, 1) if Shard(i, 2).owns_target("example.com"))
    assert "zen.spamhaus.org" in tested[owner]  # owned, though no domain target uses it
    assert "dbl.spamhaus.org" in tested[domain_owner]  # used by this replica's target
    for shard in (0, 1):
        if shard != owner:
            assert "zen.spamhaus.org" not in tested[shard]


async def test_readiness_counts_zones_as_it_lists_them(
    started: StartDaemon, tmp_path: Path
) -> None:
    """A zone asked for IPv4 and IPv6 addresses is one zone in zones_tested, as in
    unhealthy_zones (the self-tests fail: no resolver answers)."""
    text = config_text(
        tmp_path,
        zones=["zen.spamhaus.org"],
        domains='[[domains]]\nname = "example.com"\nsending_ips = ["192.0.2.1", "2001:db8::1"]\n',
    )
    daemon = await started(text, Clock())
    await daemon.services.dnsbl.selftest()
    assert {h.family.value for h in daemon.services.dnsbl.health.values()} == {"ipv4", "ipv6"}
    _ready, components = await Readiness(
        daemon.runtime, daemon.store, daemon.scheduler, daemon.services.dnsbl
    ).check()
    assert components["resolver"] == {
        "ok": False,
        "zones_healthy": 0,
        "zones_tested": 1,
        "unhealthy_zones": ["zen.spamhaus.org"],
        # Each family that failed, as the zone's verdicts in the other may still be told.
        "unhealthy_families": ["zen.spamhaus.org/ipv4", "zen.spamhaus.org/ipv6"],
    }


async def test_a_selector_and_an_envelope_domain_removed_by_a_reload_are_forgotten(
    started: StartDaemon, tmp_path: Path
) -> None:
    """Their states, their series (the state cache feeds the metrics and the risk) and
    their alerts go, as a removed target's do; a check begun before the reload does not
    write them back."""
    before = (
        EXAMPLE_COM + 'dkim_selectors = ["s1", "s2"]\nenvelope_domains = ["bounce.example.com"]\n'
    )
    daemon = await started(config_text(tmp_path, domains=before), Clock())
    s1, s2 = (
        CheckState("example.com", CheckName.DKIM, sel, "fail", None, "{}", None, T0)
        for sel in ("s1", "s2")
    )
    envelope = CheckState(
        "example.com", CheckName.ENVELOPE_SPF, "bounce.example.com", "ok", None, "{}", None, T0
    )
    await save(daemon, [s1, s2, envelope])
    broken = [o for o in record_observations(daemon) if o.labels.get("item") in ("s1", "s2")]
    policy = AlertPolicy()
    for obs in broken:
        base = step(None, Observation(obs.key, obs.kind, False, labels=obs.labels), T0, policy)
        fired = step(base.record, obs, T0, policy)
        assert fired.record is not None
        await daemon.store.save_alerts([fired.record], [], now=T0)

    (tmp_path / "delivermon.toml").write_text(
        config_text(tmp_path, domains=EXAMPLE_COM + 'dkim_selectors = ["s1"]\n')
    )
    assert (await daemon.reload()).ok
    await save(daemon, [s1, s2, envelope])  # a run that began before the reload

    assert daemon.states.get(("example.com", "dkim", "s1")) is not None
    assert daemon.states.get(("example.com", "dkim", "s2")) is None
    assert daemon.states.get(("example.com", "envelope_spf", "bounce.example.com")) is None
    many = (CheckName.DKIM, CheckName.ENVELOPE_SPF)
    stored = await daemon.store.latest_states(targets={"example.com"})
    assert {(s.check, s.item) for s in stored if s.check in many} == {(CheckName.DKIM, "s1")}
    keys = {o.labels["item"]: o.key for o in broken}
    assert await alert(daemon, keys["s2"]) == (AlertStatus.RESOLVED, True)
    assert await alert(daemon, keys["s1"]) == (AlertStatus.FIRING, True)


def record_observations(daemon: Daemon) -> list[Observation]:
    return observe_records(daemon.states.snapshot().states.values())


async def test_an_envelope_domain_no_sending_ip_passes_at_alerts_and_fails_the_scorecard(
    nsd_factory: StartNsd, started: StartDaemon, tmp_path: Path
) -> None:
    """Which sending IP uses which envelope domain is not configured: an IP that does not
    pass at one envelope domain is a warning there, a domain where no sending IP passes a
    broken one (every message sent with it fails SPF), alerted as the SPF record is."""
    server = nsd_factory(
        {
            "example.com": [
                f"@ IN TXT {txt('v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 -all')}",
                f"bounce IN TXT {txt('v=spf1 ip4:192.0.2.10 -all')}",
                f"other IN TXT {txt('v=spf1 ip4:198.51.100.1 -all')}",
                "nospf IN A 192.0.2.1",
                # .10 certainly fails; .11 could not be told (the include's zone fails)
                f"mixed IN TXT {txt('v=spf1 -ip4:192.0.2.10 include:spf.example.net -all')}",
            ]
        },
        broken=["example.net"],
    )
    envelopes = [
        "example.com",
        "bounce.example.com",
        "other.example.com",
        "nospf.example.com",
        "mixed.example.com",
    ]
    domains = (
        '[[domains]]\nname = "example.com"\nsending_ips = ["192.0.2.10", "192.0.2.11"]\n'
        f"envelope_domains = {json.dumps(envelopes)}\n"
    )
    text = offline_config(
        f"sqlite:///{tmp_path / 'd.db'}", extra=domains, nameserver=server.address, timeout=1
    )
    daemon = await started(text, Clock())
    await daemon.services.auth.auth()

    def status(check: str, item: str = "") -> str | None:
        state = daemon.states.get(("example.com", check, item))
        return None if state is None else state.status

    assert status("spf") == "ok"
    assert status("envelope_spf", "example.com") == "ok"
    assert status("envelope_spf", "bounce.example.com") == "warn"  # .10 passes, .11 does not
    assert status("envelope_spf", "other.example.com") == "fail"
    assert status("envelope_spf", "nospf.example.com") == "fail"
    assert status("envelope_spf", "mixed.example.com") == "unknown"  # .11 might pass there
    assert status("compliance") == "fail"
    prefix = "record_broken:envelope_spf:example.com:"
    keys = [prefix + d for d in envelopes]
    found = await daemon.store.load_alerts(keys)
    firing = {k for k, r in found.items() if r.status is AlertStatus.FIRING}
    assert firing == {prefix + "other.example.com", prefix + "nospf.example.com"}
    assert prefix + "example.com" not in found  # the SPF check's own alert covers it


async def test_a_domain_no_configured_list_can_list_has_no_unknown_listing(
    started: StartDaemon, tmp_path: Path
) -> None:
    """Only an IP list configured: no list can list example.com, so its listing factors do
    not apply; they used to stay "unknown" for good (listing unknown 1, a lower bound)."""
    domains = EXAMPLE_COM + 'sending_ips = ["192.0.2.10"]\n'
    daemon = await started(
        config_text(tmp_path, zones=["zen.spamhaus.org"], domains=domains), Clock()
    )
    await daemon.services.dnsbl.sweep()
    await daemon.services.auth.auth()
    risk = daemon.services.risk.snapshot()
    domain, ip = risk["example.com"], risk["192.0.2.10"]
    assert not domain.unknown_listing
    assert {"listing_critical", "listing_major", "early_warning"}.isdisjoint(domain.unknown)
    codes = {d[2] for d in domain.details if d[0].startswith("listing_")}
    assert {c.partition(".")[2] for c in codes} == {"not_applicable"}
    assert ip.unknown_listing  # the IP's list could not tell (no DNS here): still unknown


def spf_failing_domain(nsd_factory: StartNsd, tmp_path: Path) -> tuple[NsdServer, str, list[str]]:
    """example.com with SPF failing for its own IP (20 points, "elevated": the default
    threshold), DMARC p=reject, no DKIM selector and no list that can list a domain: the
    SPF factor alone decides its risk alert. Returns the server, the config, the records
    besides SPF."""
    records = [f"_dmarc IN TXT {txt('v=DMARC1; p=reject')}"]
    # "com": the DMARC tree walk asks _dmarc.com (refused, the DMARC check could not tell).
    zone = [f"@ IN TXT {txt('v=spf1 -all')}", *records]
    server = nsd_factory({"example.com": zone, "com": []})
    return server, served_config(tmp_path, server, 'sending_ips = ["192.0.2.10"]\n'), records


def served_config(tmp_path: Path, server: NsdServer, domain: str) -> str:
    """example.com with ``domain``'s keys, its DNS ``server`` (no cache), resolve_after 2."""
    return offline_config(
        f"sqlite:///{tmp_path / 'd.db'}",
        extra=f"[alerts]\nresolve_after = 2\n{EXAMPLE_COM}{domain}",
        nameserver=server.address,
        timeout=0.5,
        cache=False,
    )


async def evaluate_risk(daemon: Daemon, clock: Clock, times: int = 1) -> None:
    """One auth run, then ``times`` campaign runs (which observe the risk alerts)."""
    await daemon.services.auth.auth()
    for _ in range(times):
        clock.now += dt.timedelta(minutes=5)
        await daemon.services.feedback.campaigns()


async def test_a_risk_alert_a_check_raised_is_held_while_that_check_cannot_tell(
    nsd_factory: StartNsd, started: StartDaemon, tmp_path: Path
) -> None:
    """The DNS serving the domain's records stops answering: the SPF factor is unknown and
    adds no points, but nothing got better, so the alert stays. It resolves once SPF
    answers that the IP passes. (Before, it resolved at the outage: only an unknown
    listing held a risk alert.)"""
    server, text, records = spf_failing_domain(nsd_factory, tmp_path)
    clock = Clock()
    daemon = await started(text, clock)
    key = "risk_level:example.com"

    await evaluate_risk(daemon, clock)
    risk = daemon.services.risk.snapshot()["example.com"]
    assert (risk.score, risk.level, risk.unknown_checks) == (20, "elevated", ())
    assert await alert(daemon, key) == (AlertStatus.FIRING, False)  # there at the start

    server.stop_keeping_port()
    await evaluate_risk(daemon, clock, times=3)
    risk = daemon.services.risk.snapshot()["example.com"]
    assert risk.score == 0
    assert risk.unknown_checks == ("spf_own_ip_fail", "dmarc_weak")
    assert risk.lower_bound
    assert await alert(daemon, key) == (AlertStatus.FIRING, False)

    server.add_zone("example.com", [f"@ IN TXT {txt('v=spf1 ip4:192.0.2.10 -all')}", *records])
    server.start_again()
    await evaluate_risk(daemon, clock, times=3)
    risk = daemon.services.risk.snapshot()["example.com"]
    assert (risk.score, risk.unknown_checks) == (0, ())
    assert not risk.lower_bound
    # resolve_after (2) counts clear checks, not re-scorings of one check's answer: the
    # three campaigns runs after one clean auth run resolved it before.
    assert await alert(daemon, key) == (AlertStatus.FIRING, False)
    await evaluate_risk(daemon, clock)
    assert await alert(daemon, key) == (AlertStatus.RESOLVED, False)


async def test_a_risk_whose_dns_checks_could_not_tell_records_no_clear_baseline(
    nsd_factory: StartNsd, started: StartDaemon, tmp_path: Path
) -> None:
    """The domain's first auth run cannot tell SPF or DMARC (its DNS is down at start): the
    score reads 0, "ok", with every needed check run. That used to be recorded as the
    alert's clear baseline; it is "could not tell" now, so no record. When SPF answers
    (failing: "elevated"), the firing comes after watching began, and is announced."""
    server, text, _ = spf_failing_domain(nsd_factory, tmp_path)
    server.stop_keeping_port()
    clock = Clock()
    daemon = await started(text, clock)
    key = "risk_level:example.com"

    await evaluate_risk(daemon, clock, times=2)
    assert await alert(daemon, key) is None  # could not tell: no baseline
    risk = daemon.services.risk.snapshot()["example.com"]
    assert (risk.score, risk.level, risk.complete) == (0, "ok", True)
    assert risk.unknown_checks == ("spf_own_ip_fail", "dmarc_weak")

    server.start_again()
    await evaluate_risk(daemon, clock)
    risk = daemon.services.risk.snapshot()["example.com"]
    assert (risk.score, risk.level, risk.unknown_checks) == (20, "elevated", ())
    assert await alert(daemon, key) == (AlertStatus.FIRING, True)
    # Without selectors, DKIM has nothing to evaluate: not applicable, never "unknown".
    assert ("dkim_weak", 0, "dkim_weak.not_applicable") in risk.details
    assert "dkim_weak" not in risk.unknown


async def test_a_risk_alert_stays_firing_across_a_restart_while_its_check_cannot_tell(
    nsd_factory: StartNsd, started: StartDaemon, tmp_path: Path
) -> None:
    """The alert fired on SPF's points; the daemon restarts while the domain's DNS is
    down: its first auth run cannot tell, and the alert stays (what could not tell is a
    lower bound, whatever the daemon remembers)."""
    server, text, _ = spf_failing_domain(nsd_factory, tmp_path)
    clock = Clock()
    daemon = await started(text, clock)
    key = "risk_level:example.com"
    await evaluate_risk(daemon, clock)
    assert await alert(daemon, key) == (AlertStatus.FIRING, False)
    await daemon.stop()

    server.stop_keeping_port()
    again = await started(text, clock)
    await evaluate_risk(again, clock, times=3)
    assert again.services.risk.snapshot()["example.com"].lower_bound
    assert await alert(again, key) == (AlertStatus.FIRING, False)


def spf_result(daemon: Daemon) -> str:
    """example.com's IP's result in delivermon_spf_ip_result."""
    (result,) = [
        s.labels["result"]
        for metric in daemon.metrics.registry.collect()
        if metric.name == "delivermon_spf_ip_result"
        for s in metric.samples
        if s.labels["domain"] == "example.com" and s.labels["ip"] == IP and s.value == 1
    ]
    return result


async def test_a_domain_sending_with_envelope_domains_is_scored_on_their_spf(
    nsd_factory: StartNsd, started: StartDaemon, tmp_path: Path
) -> None:
    """The From domain's own SPF lists another IP; the envelope (MAIL FROM) domain, where
    receivers evaluate SPF, passes the sending IP. The SPF factor read the From domain's
    record: "fail" (20 points, elevated) for the domain and the IP, for good, and the SPF
    check raised a critical record_broken alert about mail receivers never checked there."""
    mail = [f"mail IN A {IP}", f"_dmarc IN TXT {txt('v=DMARC1; p=reject')}"]
    own = f"@ IN TXT {txt('v=spf1 ip4:203.0.113.7 ~all')}"
    server = nsd_factory(
        {
            "example.com": [own, f"bounce IN TXT {txt(f'v=spf1 ip4:{IP} -all')}", *mail],
            "com": [],
            "2.0.192.in-addr.arpa": ["10 IN PTR mail.example.com."],
        }
    )
    keys = f'sending_ips = ["{IP}"]\nenvelope_domains = ["bounce.example.com"]\n'
    text = served_config(tmp_path, server, keys)
    clock = Clock()
    daemon = await started(text, clock)
    await evaluate_risk(daemon, clock)
    risk = daemon.services.risk.snapshot()
    for target in ("example.com", IP):
        assert ("spf_own_ip_fail", 0, "spf_own_ip_fail.pass") in risk[target].details, target
        assert risk[target].level == "ok"
    assert await alert(daemon, "record_broken:spf:example.com") == (AlertStatus.RESOLVED, False)
    assert spf_result(daemon) == "pass"  # delivermon_spf_ip_result: the envelope domain's
    assert await alert(daemon, "risk_level:example.com") == (AlertStatus.RESOLVED, False)  # clear

    # The envelope domain stops authorising the IP: now it fails where receivers look.
    bounce = f"bounce IN TXT {txt('v=spf1 -all')}"
    server.add_zone("example.com", [own, bounce, *mail])
    server.reload()
    await evaluate_risk(daemon, clock)
    risk = daemon.services.risk.snapshot()
    for target in ("example.com", IP):
        assert ("spf_own_ip_fail", 20, "spf_own_ip_fail.fail") in risk[target].details, target
    assert spf_result(daemon) == "fail"


async def test_a_reload_whose_jobs_cannot_be_scheduled_keeps_the_running_config(
    started: StartDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installing the jobs is the reload's last step that can fail: it used to run after
    the swap, outside the reload's error handling, so the new config was half live (the
    readiness interval changed) while the reload answered 500 and counted as a success.
    Bounded durations leave no config that makes the scheduler fail, so the fault is
    injected: the scheduler refuses the new config's ``drift`` interval, as APScheduler
    did with an OverflowError for a "3000000d" one."""
    daemon = await started(config_text(tmp_path), Clock())
    registry = daemon.metrics.registry
    running = daemon.config
    add = daemon.scheduler.add

    def failing_add(name: str, *args: Any, **kwargs: Any) -> None:
        if name == "drift" and kwargs.get("interval") == 7200:
            raise OverflowError("date value out of range")
        add(name, *args, **kwargs)

    monkeypatch.setattr(daemon.scheduler, "add", failing_add)
    # selftest (installed before drift) and the sweep change too; [imap] adds a job.
    changed = config_text(
        tmp_path,
        domains='[schedule]\nselftest_interval = "5m"\ndrift_interval = "2h"\n'
        '[imap]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = "u"\npassword = "p"\n',
    ).replace("[dnsbl]\n", '[dnsbl]\ninterval = "1h"\n')
    (tmp_path / "delivermon.toml").write_text(changed)

    outcome = await daemon.reload()

    assert not outcome.ok
    assert any("OverflowError" in p for p in outcome.problems), outcome.problems
    assert daemon.config is running
    assert daemon.runtime.current.config is running  # what /readyz and the jobs read
    intervals = {name: daemon.scheduler.interval_of(name) for name in daemon.scheduler.names}
    assert intervals["selftest"] == 30 * 60
    assert intervals["sweep"] == 15 * 60
    assert intervals["drift"] == 15 * 60
    assert "imap" not in intervals
    assert registry.get_sample_value("delivermon_config_last_reload_successful") == 0
    reloads = {
        outcome: registry.get_sample_value("delivermon_config_reloads_total", {"outcome": outcome})
        for outcome in ("success", "failure")
    }
    assert reloads == {"success": 0, "failure": 1}

    monkeypatch.setattr(daemon.scheduler, "add", add)  # the fault is gone: the same file
    assert (await daemon.reload()).ok
    assert daemon.config.dnsbl.interval == "1h"
    assert daemon.runtime.current.config.dnsbl.interval == "1h"
    assert daemon.scheduler.interval_of("drift") == 2 * 3600
    assert daemon.scheduler.interval_of("imap") == 5 * 60
    assert registry.get_sample_value("delivermon_config_last_reload_successful") == 1


async def test_a_start_that_fails_is_not_logged_as_a_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A config problem found while starting logged "daemon stopped" (INFO) before the
    problem, of a daemon that never ran (an outside review)."""
    (tmp_path / "not-a-directory").write_text("")
    text = offline_config(f"sqlite:///{tmp_path / 'not-a-directory' / 'd.db'}", zones=[])
    daemon = Daemon(parse_config(text), DaemonOptions(config_path=None, listen="127.0.0.1:0"))
    with caplog.at_level("INFO", logger="monitor.daemon.app"):
        with pytest.raises(Exception):  # noqa: B017, PT011 (whatever the store raises)
            await daemon.start()
        await daemon.stop()
    assert "daemon stopped" not in caplog.text
