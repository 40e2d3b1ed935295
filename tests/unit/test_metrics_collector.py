"""Pins what ``StateCollector`` exports for each kind of state, through ``get_sample_value``."""

from __future__ import annotations

import dataclasses
import math
import platform
from collections.abc import Iterable
from types import MappingProxyType

import pytest
from prometheus_client import CollectorRegistry

from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import DnsblTargetResult, ZoneHealth
from checks.dnsbl.catalogue import Severity, load_catalogue
from checks.dnsbl.selftest import Family
from checks.dnsbl.targets import parse_target
from checks.dnsbl.verdict import DnsblResult, Verdict, unknown_reasons
from checks.host import PtrResult
from checks.spf import SpfResult
from checks.status import CheckStatus
from monitor.checking.states import (
    RESOLVER_REFUSED_ERRORS,
    CheckName,
    CheckState,
    states_from_dnsbl,
    states_from_health,
)
from monitor.checking.table import state_of
from monitor.daemon.scheduler import JobStatus
from monitor.http import system
from monitor.http.table import DAEMON_ROUTES
from monitor.metrics.collector import INGEST_REFUSED_REASONS, INGEST_SOURCES, Metrics
from monitor.risk.campaigns import CampaignRow, CampaignSnapshot
from monitor.risk.scorer import RiskView
from monitor.store.rates import Rates, Totals

from . import metrics_view as mv

ZEN = "zen.spamhaus.org"
SPAMCOP = "bl.spamcop.net"


def registry(view: mv.View) -> CollectorRegistry:
    return Metrics(view.sources(), version="1.2.3", catalogue_version="2025.02").registry


def state_view(states: Iterable[CheckState], **kwargs: object) -> mv.View:
    view = mv.View(states={s.key: s for s in states}, zone_info=dict(mv.ZONE_INFO))
    for name, value in kwargs.items():
        setattr(view, name, value)
    return view


def dnsbl(target: str, *results: DnsblResult) -> list[CheckState]:
    return list(states_from_dnsbl([DnsblTargetResult(parse_target(target), results, ())], mv.AT))


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def names(reg: CollectorRegistry) -> set[str]:
    return {metric.name for metric in reg.collect()}


# --- DNSBL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result_severity", "zone", "expected"),
    [
        pytest.param(Severity.MAJOR, ZEN, "major", id="result-severity-wins-over-zone"),
        pytest.param(None, ZEN, "critical", id="no-result-severity-takes-zone-catalogue"),
        pytest.param(None, "custom.example.net", "major", id="zone-outside-catalogue-is-major"),
    ],
)
def test_listed_exports_1_with_its_severity(
    result_severity: Severity | None, zone: str, expected: str
) -> None:
    states = dnsbl(
        mv.IP, DnsblResult(zone, Verdict.LISTED, ("127.0.0.2",), severity=result_severity)
    )
    reg = registry(state_view(states))
    assert value(reg, "delivermon_dnsbl_listed", target=mv.IP, zone=zone) == 1
    labels = {"target": mv.IP, "zone": zone, "severity": expected}
    assert value(reg, "delivermon_dnsbl_listing_severity", **labels) == 1
    assert value(reg, "delivermon_dnsbl_unknown", target=mv.IP, zone=zone) == 0


def test_not_listed_exports_0_and_no_listing_severity() -> None:
    reg = registry(state_view(dnsbl(mv.IP, DnsblResult(SPAMCOP, Verdict.NOT_LISTED))))
    labels = {"target": mv.IP, "zone": SPAMCOP}
    assert value(reg, "delivermon_dnsbl_listed", **labels) == 0
    assert value(reg, "delivermon_dnsbl_unknown", **labels) == 0
    assert not [
        s for m in reg.collect() if m.name == "delivermon_dnsbl_listing_severity" for s in m.samples
    ]


@pytest.mark.parametrize(
    "error", ["timeout", "public_resolver", "zone_unhealthy", "unexpected_code", None]
)
def test_unknown_has_no_listed_sample_and_unknown_1(error: str | None) -> None:
    states = dnsbl(mv.IP, DnsblResult(ZEN, Verdict.UNKNOWN, error=error))
    reg = registry(state_view(states))
    for severity in Severity:
        assert (
            value(reg, "delivermon_dnsbl_listed", target=mv.IP, zone=ZEN, severity=severity.value)
            is None
        )
    assert value(reg, "delivermon_dnsbl_unknown", target=mv.IP, zone=ZEN) == 1


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        *(pytest.param(e, 1, id=f"{e}-refuses-resolver") for e in sorted(RESOLVER_REFUSED_ERRORS)),
        pytest.param("timeout", 0, id="timeout-is-not-a-refusal"),
        pytest.param("zone_unhealthy", 0, id="zone_unhealthy-is-not-a-refusal"),
        pytest.param(None, 0, id="no-error"),
    ],
)
def test_resolver_refused_follows_the_error_code(error: str | None, refused: int) -> None:
    verdict = Verdict.NOT_LISTED if error is None else Verdict.UNKNOWN
    reg = registry(state_view(dnsbl(mv.IP, DnsblResult(ZEN, verdict, error=error))))
    assert value(reg, "delivermon_dnsbl_resolver_refused", zone=ZEN) == refused


def test_one_refusal_marks_the_zone_refused_whatever_the_other_targets_got() -> None:
    states = [
        *dnsbl(mv.IP, DnsblResult(ZEN, Verdict.NOT_LISTED)),
        *dnsbl(mv.IP6, DnsblResult(ZEN, Verdict.UNKNOWN, error="public_resolver")),
        *dnsbl("192.0.2.99", DnsblResult(ZEN, Verdict.NOT_LISTED)),
    ]
    reg = registry(state_view(states))
    assert value(reg, "delivermon_dnsbl_resolver_refused", zone=ZEN) == 1


@pytest.mark.parametrize(
    ("families", "healthy"),
    [
        pytest.param({Family.IPV4: True, Family.IPV6: True}, 1, id="all-healthy"),
        pytest.param({Family.IPV4: True, Family.IPV6: False}, 0, id="ipv6-failing"),
        pytest.param({Family.IPV4: False, Family.IPV6: True}, 0, id="ipv4-failing"),
        pytest.param({Family.IPV4: True}, 1, id="single-family-healthy"),
    ],
)
def test_zone_is_healthy_only_when_every_family_is(
    families: dict[Family, bool], healthy: int
) -> None:
    health = [ZoneHealth(ZEN, f, ok) for f, ok in families.items()]
    reg = registry(state_view(states_from_health(health, mv.AT)))
    assert value(reg, "delivermon_dnsbl_zone_healthy", zone=ZEN) == healthy
    for family, ok in families.items():
        assert value(
            reg, "delivermon_dnsbl_zone_family_healthy", zone=ZEN, family=family.value
        ) == (1 if ok else 0)


def test_zone_info_carries_the_catalogue_facts() -> None:
    reg = registry(state_view([]))
    assert (
        value(
            reg,
            "delivermon_dnsbl_zone_info",
            zone="dnsbl-2.uceprotect.net",
            severity="info",
            early_warning="true",
        )
        == 1
    )
    assert (
        value(
            reg, "delivermon_dnsbl_zone_info", zone=ZEN, severity="critical", early_warning="false"
        )
        == 1
    )


# --- authentication and host records ---------------------------------------------------


def spf(status: CheckStatus, **fields: object) -> CheckState:
    defaults: dict[str, object] = {
        "record": "v=spf1 ip4:192.0.2.10 -all",
        "dns_lookups": 4,
        "void_lookups": 0,
        "ip_results": MappingProxyType({mv.IP: "pass"}),
        "include_tree": None,
        "findings": (),
    }
    defaults.update(fields)
    result = SpfResult(domain=mv.DOMAIN, status=status, **defaults)  # type: ignore[arg-type]
    return state_of(CheckName.SPF, mv.DOMAIN, result, mv.AT)


@pytest.mark.parametrize("status", list(CheckStatus), ids=[s.value for s in CheckStatus])
def test_record_status_is_1_for_the_current_status_and_0_for_the_others(
    status: CheckStatus,
) -> None:
    reg = registry(state_view([spf(status)]))
    labels = {"check": "spf", "target": mv.DOMAIN, "item": ""}
    for other in CheckStatus:
        expected = 1 if other is status else 0
        assert value(reg, "delivermon_record_status", **labels, status=other.value) == expected


def test_record_last_change_is_the_stored_changed_at() -> None:
    reg = registry(mv.full_view())
    labels = {"check": "dkim", "target": mv.DOMAIN, "item": "s1"}
    got = value(reg, "delivermon_record_last_change_timestamp_seconds", **labels)
    assert got == mv.CHANGED.timestamp()


def test_record_last_change_is_absent_before_the_store_knows_it() -> None:
    reg = registry(state_view([spf(CheckStatus.OK)]))  # changed_at None
    labels = {"check": "spf", "target": mv.DOMAIN, "item": ""}
    assert value(reg, "delivermon_record_last_change_timestamp_seconds", **labels) is None


def test_spf_lookups_voids_and_ip_results_are_exported() -> None:
    state = spf(
        CheckStatus.WARN,
        dns_lookups=9,
        void_lookups=2,
        ip_results=MappingProxyType({mv.IP: "pass", mv.IP6: "softfail"}),
    )
    reg = registry(state_view([state]))
    assert value(reg, "delivermon_spf_dns_lookups", domain=mv.DOMAIN) == 9
    assert value(reg, "delivermon_spf_void_lookups", domain=mv.DOMAIN) == 2
    ip = "delivermon_spf_ip_result"
    assert value(reg, ip, domain=mv.DOMAIN, ip=mv.IP, result="pass") == 1
    assert value(reg, ip, domain=mv.DOMAIN, ip=mv.IP6, result="softfail") == 1
    assert value(reg, ip, domain=mv.DOMAIN, ip=mv.IP, result="fail") == 0  # known, not current
    assert value(reg, ip, domain=mv.DOMAIN, ip=mv.IP, result="temperror") == 0


def test_an_spf_run_that_hit_a_dns_error_still_exports_each_ips_result() -> None:
    # One IP passed before the evaluation reached a broken include; the other is open.
    state = spf(
        CheckStatus.UNKNOWN,
        dns_lookups=3,
        ip_results=MappingProxyType({mv.IP: "pass", mv.IP6: "temperror"}),
    )
    reg = registry(state_view([state]))
    ip = "delivermon_spf_ip_result"
    assert value(reg, ip, domain=mv.DOMAIN, ip=mv.IP, result="pass") == 1
    assert value(reg, ip, domain=mv.DOMAIN, ip=mv.IP6, result="temperror") == 1
    assert value(reg, ip, domain=mv.DOMAIN, ip=mv.IP6, result="pass") == 0
    assert value(reg, "delivermon_spf_dns_lookups", domain=mv.DOMAIN) is None


def test_unknown_spf_exports_no_counts() -> None:
    reg = registry(state_view([spf(CheckStatus.UNKNOWN, record=None, dns_lookups=0)]))
    assert value(reg, "delivermon_spf_dns_lookups", domain=mv.DOMAIN) is None
    assert value(reg, "delivermon_spf_void_lookups", domain=mv.DOMAIN) is None


@pytest.mark.parametrize(
    ("result", "policy"),
    [
        pytest.param(
            DmarcResult(mv.DOMAIN, CheckStatus.OK, record="v=DMARC1; p=reject", policy="reject"),
            "reject",
            id="reject",
        ),
        pytest.param(
            DmarcResult(
                mv.DOMAIN, CheckStatus.OK, record="v=DMARC1; p=quarantine", policy="quarantine"
            ),
            "quarantine",
            id="quarantine",
        ),
        pytest.param(
            DmarcResult(mv.DOMAIN, CheckStatus.WARN, record="v=DMARC1; p=none", policy="none"),
            "none",
            id="none",
        ),
        pytest.param(DmarcResult(mv.DOMAIN, CheckStatus.FAIL), "missing", id="no-record-missing"),
        pytest.param(DmarcResult(mv.DOMAIN, CheckStatus.UNKNOWN), None, id="unknown-absent"),
    ],
)
def test_dmarc_policy(result: DmarcResult, policy: str | None) -> None:
    reg = registry(state_view([state_of(CheckName.DMARC, mv.DOMAIN, result, mv.AT)]))
    exported = {
        p: value(reg, "delivermon_dmarc_policy", domain=mv.DOMAIN, policy=p)
        for p in ("none", "quarantine", "reject", "missing")
    }
    expected = {p: None if policy is None else int(p == policy) for p in exported}
    assert exported == expected  # one-hot once told; absent while unknown


@pytest.mark.parametrize(
    ("key_type", "bits", "status"),
    [
        pytest.param("rsa", 2048, CheckStatus.OK, id="rsa-2048"),
        pytest.param("rsa", 1024, CheckStatus.WARN, id="rsa-1024"),
        pytest.param("ed25519", 256, CheckStatus.OK, id="ed25519"),
        pytest.param(None, None, CheckStatus.FAIL, id="no-key-absent"),
        pytest.param(None, None, CheckStatus.UNKNOWN, id="unknown-absent"),
    ],
)
def test_dkim_key_bits(key_type: str | None, bits: int | None, status: CheckStatus) -> None:
    result = DkimResult("s1", status, "v=DKIM1; p=", key_type, bits, False, (), ())
    reg = registry(state_view([state_of(CheckName.DKIM, mv.DOMAIN, result, mv.AT)]))
    assert value(reg, "delivermon_dkim_key_bits", domain=mv.DOMAIN, selector="s1") == bits


@pytest.mark.parametrize(
    ("confirmed", "exported"),
    [
        pytest.param(True, 1, id="confirmed"),
        pytest.param(False, 0, id="not-confirmed"),
        pytest.param(None, None, id="unknown-absent"),
    ],
)
def test_ptr_forward_confirmed(confirmed: bool | None, exported: int | None) -> None:
    status = CheckStatus.UNKNOWN if confirmed is None else CheckStatus.OK
    result = PtrResult(mv.IP, status, ("mail.example.com",), confirmed, (), ())
    reg = registry(state_view([state_of(CheckName.PTR, mv.IP, result, mv.AT)]))
    assert value(reg, "delivermon_ptr_forward_confirmed", ip=mv.IP) == exported
    assert (
        value(
            reg, "delivermon_record_status", check="ptr", target=mv.IP, item="", status=status.value
        )
        == 1
    )


# --- risk ----------------------------------------------------------------------------------


def test_risk_score_level_and_factors_are_exported() -> None:
    risk = {mv.IP: RiskView(55, "high", {"listing_major": 50.0, "fcrdns_missing": 5.0})}
    reg = registry(mv.View(risk=risk))
    assert value(reg, "delivermon_blacklist_risk_score", target=mv.IP) == 55
    assert value(reg, "delivermon_blacklist_risk_level", target=mv.IP, level="high") == 1
    assert value(reg, "delivermon_blacklist_risk_level", target=mv.IP, level="ok") == 0
    factor = "delivermon_blacklist_risk_factor"
    assert value(reg, factor, target=mv.IP, factor="listing_major") == 50
    assert value(reg, factor, target=mv.IP, factor="fcrdns_missing") == 5


def test_a_list_that_cannot_tell_is_exported_as_an_unknown_listing() -> None:
    risk = {
        mv.IP: RiskView(0, "ok", {"listing_major": math.nan}, unknown_listing=True),
        mv.DOMAIN: RiskView(0, "ok", {"dmarc_weak": 0.0}),
    }
    reg = registry(mv.View(risk=risk))
    assert value(reg, "delivermon_blacklist_risk_unknown_listing", target=mv.IP) == 1
    assert value(reg, "delivermon_blacklist_risk_unknown_listing", target=mv.DOMAIN) == 0
    # A list that cannot tell makes the score a lower bound too.
    assert value(reg, "delivermon_blacklist_risk_lower_bound", target=mv.IP) == 1
    assert value(reg, "delivermon_blacklist_risk_lower_bound", target=mv.DOMAIN) == 0


def test_a_dns_check_that_cannot_tell_is_a_lower_bound_a_rate_below_its_guard_is_not() -> None:
    check = RiskView(0, "ok", {"spf_own_ip_fail": math.nan}, unknown=("spf_own_ip_fail",))
    rate = RiskView(0, "ok", {"complaint_rate": math.nan}, unknown=("complaint_rate",))
    reg = registry(mv.View(risk={mv.DOMAIN: check, "example.net": rate}))
    assert value(reg, "delivermon_blacklist_risk_unknown_listing", target=mv.DOMAIN) == 0
    assert value(reg, "delivermon_blacklist_risk_lower_bound", target=mv.DOMAIN) == 1
    assert value(reg, "delivermon_blacklist_risk_lower_bound", target="example.net") == 0


def test_unknown_risk_factor_is_omitted_not_zero() -> None:
    risk = {mv.DOMAIN: RiskView(0, "ok", {"complaint_rate": math.nan, "dmarc_weak": 0.0})}
    reg = registry(mv.View(risk=risk))
    factor = "delivermon_blacklist_risk_factor"
    assert value(reg, factor, target=mv.DOMAIN, factor="complaint_rate") is None
    assert value(reg, factor, target=mv.DOMAIN, factor="dmarc_weak") == 0


# --- campaigns -----------------------------------------------------------------------------


def test_campaign_counters_come_from_the_snapshot() -> None:
    reg = registry(mv.full_view())
    labels = {"campaign": "spring-sale", "provider": "google"}
    assert value(reg, "delivermon_sent_total", **labels) == 10_000
    assert value(reg, "delivermon_delivered_total", **labels) == 9_800
    assert value(reg, "delivermon_complaints_total", **labels) == 12
    assert value(reg, "delivermon_unsubscribes_total", **labels) == 30
    assert value(reg, "delivermon_unsubscribe_violations_total", **labels) == 1
    bounces = "delivermon_bounces_total"
    assert value(reg, bounces, **labels, kind="permanent") == 100
    assert value(reg, bounces, **labels, kind="transient") == 60
    assert value(reg, bounces, **labels, kind="undetermined") == 40


def test_campaigns_beyond_the_bound_are_exported_as_other() -> None:
    reg = registry(mv.full_view())
    assert value(reg, "delivermon_complaints_total", campaign="_other", provider="yahoo") == 1
    assert value(reg, "delivermon_campaigns", set="all") == 5
    assert value(reg, "delivermon_campaigns", set="other") == 4


@pytest.mark.parametrize("kind", ["complaint", "unsubscribe", "bounce"])
def test_ratios_are_exported_when_known_and_absent_below_the_volume_guard(kind: str) -> None:
    snap = CampaignSnapshot(
        rates={("a", "24h"): Rates(0.002, 0.004, 0.01), ("b", "24h"): Rates(None, None, None)},
        provider_rates={
            ("a", "google", "24h"): Rates(0.003, 0.005, 0.02),
            ("a", "apple", "24h"): Rates(None, None, None),
        },
    )
    reg = registry(mv.View(campaigns=snap))
    expected = getattr(Rates(0.002, 0.004, 0.01), f"{kind}_rate")
    by_provider = getattr(Rates(0.003, 0.005, 0.02), f"{kind}_rate")
    ratio, per_provider = f"delivermon_{kind}_ratio", f"delivermon_{kind}_ratio_by_provider"
    assert value(reg, ratio, campaign="a", window="24h") == expected
    assert value(reg, ratio, campaign="b", window="24h") is None
    assert value(reg, per_provider, campaign="a", provider="google", window="24h") == by_provider
    assert value(reg, per_provider, campaign="a", provider="apple", window="24h") is None


def test_campaign_info_and_one_click_audits() -> None:
    reg = registry(mv.full_view())
    info = {"campaign": "spring-sale", "category": "commercial", "consent": "double_opt_in"}
    assert value(reg, "delivermon_campaign_info", **info) == 1
    audits = "delivermon_one_click_audits_total"
    assert value(reg, audits, campaign="spring-sale", result="compliant") == 9
    assert value(reg, audits, campaign="spring-sale", result="non_compliant") == 1
    assert value(reg, audits, campaign="spring-sale", result="not_audited") == 2


def test_a_campaign_without_complaint_reports_shows_its_audits_at_0() -> None:
    snap = CampaignSnapshot(lifetime=(CampaignRow("quiet", "google", Totals(delivered=5)),))
    reg = registry(mv.View(campaigns=snap))
    for result in ("compliant", "non_compliant", "not_audited"):
        assert value(reg, "delivermon_one_click_audits_total", campaign="quiet", result=result) == 0


def test_counters_with_labels_known_at_start_are_exported_at_0() -> None:
    reg = Metrics(mv.View().sources(), version="1", catalogue_version="1").registry
    for outcome in ("success", "failure"):
        assert value(reg, "delivermon_config_reloads_total", outcome=outcome) == 0
    for source in INGEST_SOURCES:
        for reason in INGEST_REFUSED_REASONS:
            assert value(reg, "delivermon_ingest_refused_total", source=source, reason=reason) == 0


def test_every_ingestion_route_counts_under_a_source_known_at_start() -> None:
    """A route added with a new ``source`` (a new kind of mail) gets 0-valued series."""
    sources = {spec.source for spec in DAEMON_ROUTES if spec.source}
    assert {"dmarc", "bounce", "arf", "events"} <= sources
    assert sources <= set(INGEST_SOURCES)


def test_the_running_config_makes_its_series_known_at_0() -> None:
    metrics = Metrics(mv.View().sources(), version="1", catalogue_version="1")
    zen = load_catalogue().get("zen.spamhaus.org")
    assert zen is not None
    metrics.expect(
        zones={zen.id: unknown_reasons(zen)},
        notifiers=["ops-webhook"],
        components={"job_sweep": ("expected", "unexpected"), "imap": ("message_failed",)},
    )
    reg = metrics.registry
    unknown = "delivermon_dnsbl_unknown_results_total"
    for reason in ("timeout", "servfail", "public_resolver", "zone_unhealthy", "unexpected_code"):
        assert value(reg, unknown, zone=zen.id, reason=reason) == 0
    notifications = "delivermon_notifications_total"
    for status in ("sent", "retry", "failed"):
        assert value(reg, notifications, notifier="ops-webhook", status=status) == 0
    assert value(reg, "delivermon_errors_total", component="job_sweep", reason="unexpected") == 0
    assert value(reg, "delivermon_errors_total", component="imap", reason="message_failed") == 0


def test_every_refusal_reason_the_http_middleware_counts_is_known_at_start() -> None:
    counted = {*system._REASONS.values(), "server_error", "other"}
    assert counted <= set(INGEST_REFUSED_REASONS)


CAMPAIGN_FAMILIES = {
    "delivermon_sent",
    "delivermon_delivered",
    "delivermon_complaints",
    "delivermon_unsubscribes",
    "delivermon_unsubscribe_violations",
    "delivermon_bounces",
    "delivermon_complaint_ratio",
    "delivermon_complaint_ratio_by_provider",
    "delivermon_unsubscribe_ratio",
    "delivermon_unsubscribe_ratio_by_provider",
    "delivermon_bounce_ratio",
    "delivermon_bounce_ratio_by_provider",
    "delivermon_campaign_info",
    "delivermon_one_click_audits",
    "delivermon_campaigns",
}


def test_shard_0_exports_the_campaign_families() -> None:
    assert names(registry(mv.full_view(shard=(0, 2)))) >= CAMPAIGN_FAMILIES


@pytest.mark.parametrize("shard", [(1, 2), (2, 3)], ids=["shard-1-of-2", "shard-2-of-3"])
def test_other_shards_export_no_campaign_families(shard: tuple[int, int]) -> None:
    reg = registry(mv.full_view(shard=shard))
    assert not CAMPAIGN_FAMILIES & names(reg)
    # the rest is still there
    assert value(reg, "delivermon_dnsbl_unknown", target=mv.IP, zone=ZEN) == 0
    assert value(reg, "delivermon_shard_info", index=str(shard[0]), count=str(shard[1])) == 1


@pytest.mark.parametrize(("shard", "exported"), [((0, 2), 2), ((1, 2), None), ((2, 3), None)])
def test_the_shared_outbox_is_exported_by_the_first_replica_only(
    shard: tuple[int, int], exported: int | None
) -> None:
    """Every replica reads the one outbox: a sum over replicas must not count it twice."""
    reg = registry(mv.full_view(shard=shard))
    assert value(reg, "delivermon_notifications_pending") == exported


def test_no_campaign_families_before_the_first_snapshot() -> None:
    assert not CAMPAIGN_FAMILIES & names(registry(mv.View()))


def test_campaign_counters_export_0_for_kinds_without_events() -> None:
    snap = CampaignSnapshot(lifetime=(CampaignRow("x", "other", Totals(sent=3)),))
    reg = registry(mv.View(campaigns=snap))
    assert value(reg, "delivermon_sent_total", campaign="x", provider="other") == 3
    assert value(reg, "delivermon_complaints_total", campaign="x", provider="other") == 0


# --- build, config, jobs, checks ---------------------------------------------------------


def test_build_info_labels() -> None:
    reg = registry(mv.View())
    labels = {
        "version": "1.2.3",
        "python": platform.python_version(),
        "catalogue_version": "2025.02",
    }
    assert value(reg, "delivermon_build_info", **labels) == 1


@pytest.mark.parametrize(("ok", "exported"), [(True, 1), (False, 0)], ids=["ok", "failed"])
def test_config_reload_state(ok: bool, exported: int) -> None:
    reg = registry(mv.View(reload_ok=ok, reload_at=1_700_000_000.0))
    assert value(reg, "delivermon_config_last_reload_successful") == exported
    assert value(reg, "delivermon_config_last_reload_success_timestamp_seconds") == 1_700_000_000


def test_targets_are_counted_by_kind() -> None:
    reg = registry(mv.View(targets={mv.IP: "ip", mv.IP6: "ip", mv.DOMAIN: "domain"}))
    assert value(reg, "delivermon_targets", kind="ip") == 2
    assert value(reg, "delivermon_targets", kind="domain") == 1


def test_job_metrics() -> None:
    reg = registry(mv.full_view())
    assert value(reg, "delivermon_job_interval_seconds", task="sweep") == 900
    assert (
        value(reg, "delivermon_job_last_success_timestamp_seconds", task="sweep") == 1_700_000_002
    )
    assert value(reg, "delivermon_job_duration_seconds", task="sweep") == 2
    assert value(reg, "delivermon_job_runs_total", task="sweep", outcome="success") == 3
    assert value(reg, "delivermon_job_runs_total", task="sweep", outcome="failure") == 1


def test_job_that_never_ran_has_no_success_timestamp_or_duration() -> None:
    reg = registry(mv.View(jobs=lambda: (JobStatus("auth", 3600.0),)))
    assert value(reg, "delivermon_job_interval_seconds", task="auth") == 3600
    assert value(reg, "delivermon_job_last_success_timestamp_seconds", task="auth") is None
    assert value(reg, "delivermon_job_duration_seconds", task="auth") is None


def test_check_runs() -> None:
    reg = registry(mv.full_view())
    ip = {"check": "dnsbl", "target": mv.IP}
    domain = {"check": "dnsbl", "target": mv.DOMAIN}
    assert value(reg, "delivermon_check_success", **ip) == 1
    assert value(reg, "delivermon_check_success", **domain) == 0
    assert value(reg, "delivermon_check_duration_seconds", **ip) == 1.5
    assert value(reg, "delivermon_check_last_run_timestamp_seconds", **ip) == mv.AT.timestamp()


def test_no_label_carries_an_address_a_message_id_or_a_txt_reason() -> None:
    reg = registry(mv.full_view())
    values = {v for metric in reg.collect() for s in metric.samples for v in s.labels.values()}
    assert not [v for v in values if "@" in v or "<" in v]
    assert not [v for v in values if "spamhaus.org/" in v]  # the TXT reason of the ZEN listing


def test_record_content_change_time_is_exported_only_for_known_states() -> None:
    view = mv.full_view()
    key = next(k for k, s in view.states.items() if s.check is CheckName.SPF)
    view.record_changed[("gone.example", "spf", "")] = 5.0  # no state any more: not exported
    reg = registry(view)
    name = "delivermon_record_content_changed_timestamp_seconds"
    assert value(reg, name, check="spf", target=key[0], item="") == 1_700_000_050.0
    assert value(reg, name, check="spf", target="gone.example", item="") is None
    unchanged = next(s for s in view.states.values() if s.check is CheckName.DMARC)
    assert unchanged.key not in view.record_changed
    assert value(reg, name, check="dmarc", target=unchanged.target, item="") == 0
    assert value(reg, name, check="dnsbl", target=mv.IP, item="zen.spamhaus.org") is None


def test_ingest_sources_start_at_zero() -> None:
    reg = registry(mv.full_view())
    assert value(reg, "delivermon_ingest_accepted_total", source="imap") == 0
    assert value(reg, "process_start_time_seconds") is not None


def test_a_campaign_appearing_after_start_is_shown_at_0_first() -> None:
    from monitor.risk.campaigns import NewSeriesHold

    view = mv.full_view()
    snap = view.campaigns
    assert snap is not None
    old = snap.lifetime[0].campaign
    start = CampaignSnapshot(lifetime=tuple(r for r in snap.lifetime if r.campaign == old))
    hold = NewSeriesHold()
    hold.observe(start, 60)  # the first refresh after start: nothing held
    view.campaigns = snap
    hold.observe(snap, 60)  # the other campaigns appear now
    view.held_campaigns = dict(hold.held())
    assert view.held_campaigns
    reg = registry(view)
    new = next(r for r in snap.lifetime if r.campaign != old and r.totals.delivered)
    labels = {"campaign": new.campaign, "provider": new.provider}
    assert value(reg, "delivermon_delivered_total", **labels) == 0
    kept = next(r for r in snap.lifetime if r.campaign == old)
    kept_labels = {"campaign": old, "provider": kept.provider}
    assert value(reg, "delivermon_delivered_total", **kept_labels) == kept.totals.delivered
    view.held_campaigns = {}  # the hold has passed
    assert value(registry(view), "delivermon_delivered_total", **labels) == new.totals.delivered


def test_a_new_provider_of_a_known_campaign_is_shown_at_0_first() -> None:
    """The hold was keyed on the campaign: a campaign known since start whose first
    delivery at another provider came later showed that series at its full value, which
    increase() never counts."""
    from monitor.risk.campaigns import NewSeriesHold

    view = mv.full_view()
    snap = view.campaigns
    assert snap is not None
    first = snap.lifetime[0]
    start = CampaignSnapshot(lifetime=(first,))
    later = dataclasses.replace(first, provider="yahoo" if first.provider != "yahoo" else "gmail")
    hold = NewSeriesHold()
    hold.observe(start, 60)
    view.campaigns = CampaignSnapshot(lifetime=(first, later))
    hold.observe(view.campaigns, 60)
    view.held_campaigns = dict(hold.held())
    reg = registry(view)
    assert (
        value(reg, "delivermon_delivered_total", campaign=first.campaign, provider=later.provider)
        == 0
    )
    assert (
        value(reg, "delivermon_delivered_total", campaign=first.campaign, provider=first.provider)
        == first.totals.delivered
    )


def test_a_new_bounce_class_of_a_known_campaign_is_shown_at_0_first() -> None:
    """The review's case: a DSN citing Spamhaus, then one with Gmail's 5.7.26: each new
    (provider, class) series came at 1, and increase() showed 0 bounces on the panel
    and in the runbook's confirm step of the alert they fired."""
    from monitor.risk.campaigns import NewSeriesHold

    view = mv.full_view()
    assert view.bounces is not None
    lifetime = dict(view.bounces.lifetime)
    (known, counts), *_ = lifetime.items()
    new = (known[0], "google", "auth_failure_dmarc")
    hold = NewSeriesHold()
    hold.observe_keys([known], 60)
    hold.observe_keys([known, new], 60)
    view.bounces = dataclasses.replace(view.bounces, lifetime={**lifetime, new: (1, 0)})
    view.held_bounces = dict(hold.held())
    reg = registry(view)
    name = "delivermon_bounces_classified_total"
    assert value(reg, name, campaign=new[0], provider=new[1], **{"class": new[2]}) == 0
    assert (
        value(reg, name, campaign=known[0], provider=known[1], **{"class": known[2]}) == counts[0]
    )
