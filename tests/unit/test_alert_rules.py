"""What each alert watches (monitor/alerting/rules.py): keys, and when an observation is
active, inactive or unknown (None), from states built by monitor/checking/states.py out of
the checks' results."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import DnsblTargetResult, ZoneHealth
from checks.dnsbl.catalogue import load_catalogue
from checks.dnsbl.selftest import Family
from checks.dnsbl.targets import parse_target
from checks.dnsbl.verdict import DnsblResult, Verdict
from checks.findings import Finding, FindingSeverity
from checks.host import MxResult, PtrResult
from checks.spf import SpfResult
from checks.status import CheckStatus
from monitor.alerting.rules import (
    CampaignRates,
    campaign_observations,
    dnsbl_observations,
    record_change_observations,
    record_observations,
    risk_observation,
    zone_observations,
)
from monitor.checking.states import (
    RESOLVER_REFUSED_ERRORS,
    CheckName,
    CheckState,
    StateChange,
    states_from_dnsbl,
    states_from_health,
)
from monitor.checking.table import state_of
from monitor.model.alerts import AlertKind, Observation, Severity
from monitor.risk.scorer import RiskScorer, RiskView

from . import metrics_view as mv

ZONES = {z.id: z for z in load_catalogue().zones}
LATER = mv.AT + dt.timedelta(hours=1)


def by_key(observations: list[Observation]) -> dict[str, Observation]:
    keys = [o.key for o in observations]
    assert len(keys) == len(set(keys)), "alert keys must be unique"
    return {o.key: o for o in observations}


def dnsbl_state(target: str, *results: DnsblResult) -> list[CheckState]:
    return list(states_from_dnsbl([DnsblTargetResult(parse_target(target), results, ())], mv.AT))


# --- listed -----------------------------------------------------------------------------------


def test_listed_keys_are_target_and_zone_and_unknown_verdicts_are_unknown() -> None:
    found = by_key(dnsbl_observations(mv.dnsbl_states(), ZONES))
    assert set(found) == {
        f"listed:{mv.IP}:zen.spamhaus.org",
        f"listed:{mv.IP}:bl.spamcop.net",
        f"listed:{mv.IP}:dnsbl-2.uceprotect.net",
        f"listed:{mv.DOMAIN}:dbl.spamhaus.org",
    }
    assert {k: o.active for k, o in found.items()} == {
        f"listed:{mv.IP}:zen.spamhaus.org": True,
        f"listed:{mv.IP}:bl.spamcop.net": False,
        f"listed:{mv.IP}:dnsbl-2.uceprotect.net": None,
        f"listed:{mv.DOMAIN}:dbl.spamhaus.org": None,
    }
    assert {o.kind for o in found.values()} == {AlertKind.LISTED}


def test_listing_severity_comes_from_the_return_code_else_the_zone() -> None:
    found = by_key(dnsbl_observations(mv.dnsbl_states(), ZONES))
    zen = found[f"listed:{mv.IP}:zen.spamhaus.org"]  # the PBL code says major
    assert (zen.labels["severity"], zen.severity) == ("major", Severity.CRITICAL)
    spamcop = found[f"listed:{mv.IP}:bl.spamcop.net"]  # no code: the zone's severity
    assert spamcop.labels["severity"] == ZONES["bl.spamcop.net"].severity.value
    uce = found[f"listed:{mv.IP}:dnsbl-2.uceprotect.net"]  # info zone
    assert (uce.labels["severity"], uce.severity) == ("info", Severity.INFO)


def test_listing_on_a_zone_missing_from_the_catalogue_defaults_to_major() -> None:
    states = dnsbl_state(mv.IP, DnsblResult("custom.example", Verdict.LISTED))
    (obs,) = dnsbl_observations(states, ZONES)
    assert (obs.active, obs.labels["severity"], obs.severity) == (True, "major", Severity.CRITICAL)


def test_listing_rules_ignore_other_checks() -> None:
    assert dnsbl_observations([*mv.zone_states(), *mv.auth_states()], ZONES) == []


# --- zone_unhealthy and resolver_refused ------------------------------------------------------


def test_zone_health_is_one_alert_per_zone_and_family() -> None:
    found = by_key(zone_observations(mv.zone_states(), []))
    assert {k: o.active for k, o in found.items()} == {
        "zone_unhealthy:zen.spamhaus.org:ipv4": False,
        "zone_unhealthy:zen.spamhaus.org:ipv6": False,
        "zone_unhealthy:dnsbl-2.uceprotect.net:ipv4": False,
        "zone_unhealthy:dnsbl-2.uceprotect.net:ipv6": True,
        "zone_unhealthy:dbl.spamhaus.org:domain": False,
    }
    assert found["zone_unhealthy:dnsbl-2.uceprotect.net:ipv6"].labels == {
        "zone": "dnsbl-2.uceprotect.net",
        "family": "ipv6",
    }


def test_an_unhealthy_zone_becomes_healthy_again() -> None:
    health = states_from_health([ZoneHealth("zen.spamhaus.org", Family.IPV4, True)], LATER)
    (obs,) = zone_observations(health, [])
    assert (obs.key, obs.active) == ("zone_unhealthy:zen.spamhaus.org:ipv4", False)


def test_resolver_refused_follows_the_sweeps_error_codes() -> None:
    found = by_key(zone_observations([], mv.dnsbl_states()))
    assert {k: o.active for k, o in found.items()} == {
        "resolver_refused:zen.spamhaus.org": False,  # it answered
        "resolver_refused:bl.spamcop.net": False,
        "resolver_refused:dnsbl-2.uceprotect.net": True,  # error public_resolver
        "resolver_refused:dbl.spamhaus.org": None,  # a timeout says nothing either way
    }


def test_a_self_test_answered_with_a_refusal_raises_resolver_refused() -> None:
    # Spamhaus answers 127.255.255.254 to every name a public resolver asks, test points
    # included: the sweep's results are then only zone_unhealthy.
    refused = ZoneHealth("zen.spamhaus.org", Family.IPV4, False, "public_resolver", "127.0.0.2")
    timeout = ZoneHealth("bl.spamcop.net", Family.IPV4, False, "timeout", "127.0.0.2")
    found = by_key(zone_observations(states_from_health([refused, timeout], LATER), []))
    assert found["resolver_refused:zen.spamhaus.org"].active is True
    assert "resolver_refused:bl.spamcop.net" not in found  # a timeout says nothing


@pytest.mark.parametrize("error", sorted(RESOLVER_REFUSED_ERRORS))
def test_every_refusal_code_raises_resolver_refused(error: str) -> None:
    states = dnsbl_state(mv.IP, DnsblResult("zen.spamhaus.org", Verdict.UNKNOWN, error=error))
    (obs,) = zone_observations([], states)
    assert (obs.key, obs.active) == ("resolver_refused:zen.spamhaus.org", True)


@pytest.mark.parametrize("order", ["refused_first", "refused_last"])
def test_one_refusal_in_a_zone_wins_over_answers_for_other_targets(order: str) -> None:
    refused = dnsbl_state(
        mv.IP, DnsblResult("zen.spamhaus.org", Verdict.UNKNOWN, error="query_refused")
    )
    answered = dnsbl_state("192.0.2.11", DnsblResult("zen.spamhaus.org", Verdict.NOT_LISTED))
    states = refused + answered if order == "refused_first" else answered + refused
    (obs,) = zone_observations([], states)
    assert obs.active is True


@pytest.mark.parametrize("order", ["unknown_first", "unknown_last"])
def test_an_answer_for_any_target_means_the_zone_does_not_refuse_us(order: str) -> None:
    timeout = dnsbl_state(mv.IP, DnsblResult("zen.spamhaus.org", Verdict.UNKNOWN, error="timeout"))
    answered = dnsbl_state("192.0.2.11", DnsblResult("zen.spamhaus.org", Verdict.LISTED))
    states = timeout + answered if order == "unknown_first" else answered + timeout
    (obs,) = zone_observations([], states)
    assert obs.active is False


# --- record_broken and record_changed ---------------------------------------------------------

ERROR = FindingSeverity.ERROR


def record_states(status: CheckStatus) -> list[CheckState]:
    """One state per record check (spf, dmarc, dkim, mx, ptr), all with ``status``."""
    spf = SpfResult(
        mv.DOMAIN,
        status,
        record="v=spf1 -all",
        dns_lookups=0,
        void_lookups=0,
        ip_results={},
        include_tree=None,
        findings=(Finding("spf.too_many_lookups", ERROR, "11 lookups"),)
        if status is CheckStatus.FAIL
        else (),
    )
    dmarc = DmarcResult(mv.DOMAIN, status, record="v=DMARC1; p=reject", policy="reject")
    dkim = DkimResult("s1", status, "v=DKIM1; p=", "rsa", None, False, (), ())
    mx = MxResult(mv.DOMAIN, status, hosts=(), null_mx=False, findings=())
    ptr = PtrResult(mv.IP, status, (), None, (), ())
    return [
        state_of(CheckName.SPF, mv.DOMAIN, spf, mv.AT),
        state_of(CheckName.DMARC, mv.DOMAIN, dmarc, mv.AT),
        state_of(CheckName.DKIM, mv.DOMAIN, dkim, mv.AT),
        state_of(CheckName.MX, mv.DOMAIN, mx, mv.AT),
        *[state_of(CheckName.PTR, mv.IP, ptr, mv.AT)],
    ]


RECORD_KEYS = {
    f"record_broken:spf:{mv.DOMAIN}": Severity.CRITICAL,
    f"record_broken:dmarc:{mv.DOMAIN}": Severity.CRITICAL,
    f"record_broken:dkim:{mv.DOMAIN}:s1": Severity.CRITICAL,
    f"record_broken:mx:{mv.DOMAIN}": Severity.WARNING,
    f"record_broken:ptr:{mv.IP}": Severity.WARNING,
}


@pytest.mark.parametrize(
    ("status", "active"),
    [
        (CheckStatus.FAIL, True),
        (CheckStatus.WARN, False),
        (CheckStatus.OK, False),
        (CheckStatus.UNKNOWN, None),
    ],
    ids=["fail-active", "warn-inactive", "ok-inactive", "unknown-none"],
)
def test_record_broken_is_active_only_on_fail(status: CheckStatus, active: bool | None) -> None:
    found = by_key(record_observations(record_states(status)))
    assert {k: o.severity for k, o in found.items()} == RECORD_KEYS
    assert {o.active for o in found.values()} == {active}
    assert {o.kind for o in found.values()} == {AlertKind.RECORD_BROKEN}


def test_record_broken_names_error_finding_codes() -> None:
    found = by_key(record_observations(record_states(CheckStatus.FAIL)))
    assert "spf.too_many_lookups" in found[f"record_broken:spf:{mv.DOMAIN}"].text


def test_record_rules_ignore_dnsbl_and_zone_states() -> None:
    assert record_observations([*mv.dnsbl_states(), *mv.zone_states()]) == []


def _with(state: CheckState, **changes: object) -> CheckState:
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]  # test shorthand


def test_record_changed_only_for_a_changed_fingerprint_of_a_record_check() -> None:
    states = {(s.check, s.item): s for s in mv.auth_states() if s.target != mv.IP6}
    spf, dmarc, dkim = (
        states[CheckName.SPF, ""],
        states[CheckName.DMARC, ""],
        states[CheckName.DKIM, "s1"],
    )
    mx, ptr = states[CheckName.MX, ""], states[CheckName.PTR, ""]
    listed = mv.dnsbl_states()[0]
    changes = [
        StateChange(spf, _with(spf, fingerprint="f" * 64, checked_at=LATER)),  # changed
        StateChange(dmarc, _with(dmarc, status="fail", checked_at=LATER)),  # status only
        StateChange(None, dkim),  # first seen: nothing to compare
        StateChange(_with(mx, status="unknown", fingerprint=None), mx),  # none known before
        StateChange(dmarc, _with(dmarc, status="unknown", fingerprint=None)),  # could not tell
        StateChange(listed, _with(listed, status="not_listed")),  # not a record check
        StateChange(ptr, _with(ptr, fingerprint="e" * 64)),  # changed PTR names
        StateChange(_with(mx, status="fail", fingerprint=None), mx),  # MX published
        StateChange(dkim, _with(dkim, status="fail", fingerprint=None)),  # key deleted
    ]
    first, *others = record_change_observations(changes)
    assert (first.key, first.kind, first.active, first.severity) == (
        f"record_changed:spf:{mv.DOMAIN}",
        AlertKind.RECORD_CHANGED,
        True,
        Severity.INFO,
    )
    assert [o.key for o in others] == [
        f"record_changed:ptr:{mv.IP}",
        f"record_changed:mx:{mv.DOMAIN}",
        f"record_changed:dkim:{mv.DOMAIN}:s1",
    ]


def test_record_changed_key_carries_the_dkim_selector() -> None:
    (dkim,) = [s for s in mv.auth_states() if s.item == "s1"]
    (obs,) = record_change_observations([StateChange(dkim, _with(dkim, fingerprint="0" * 64))])
    assert obs.key == f"record_changed:dkim:{mv.DOMAIN}:s1"
    assert obs.labels == {"check": "dkim", "target": mv.DOMAIN, "item": "s1"}


# --- risk_level -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "threshold", "active"),
    [
        ("ok", "elevated", False),
        ("elevated", "elevated", True),
        ("high", "elevated", True),
        ("elevated", "high", False),
        ("high", "high", True),
        ("critical", "high", True),
        ("high", "critical", False),
        ("critical", "critical", True),
        (None, "elevated", None),
    ],
)
def test_risk_level_is_active_at_or_above_the_threshold(
    level: str | None, threshold: str, active: bool | None
) -> None:
    obs = risk_observation(mv.IP, None if level is None else 50, level, threshold)
    assert (obs.key, obs.kind, obs.active) == (f"risk_level:{mv.IP}", AlertKind.RISK_LEVEL, active)
    assert obs.labels == {"target": mv.IP, "level": level or "unknown"}


def test_a_risk_scored_with_a_listing_unknown_is_observed_as_a_lower_bound() -> None:
    scorer = RiskScorer()
    scorer._risk = {  # what refresh() leaves: one target with a list that could not tell
        mv.IP: RiskView(70, "high", {}, unknown_listing=True),
        mv.DOMAIN: RiskView(70, "high", {}),
    }
    found = {o.key: o for o in scorer.observations("high")}
    assert found[f"risk_level:{mv.IP}"].lower_bound
    assert not found[f"risk_level:{mv.DOMAIN}"].lower_bound


def test_risk_level_severity_is_critical_only_at_critical() -> None:
    assert risk_observation(mv.IP, 90, "critical", "elevated").severity is Severity.CRITICAL
    assert risk_observation(mv.IP, 60, "high", "elevated").severity is Severity.WARNING


# --- complaint_rate and unsubscribe_deadline --------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "active", "severity"),
    [
        (None, None, Severity.WARNING),
        (0.0005, False, Severity.WARNING),
        (0.001, True, Severity.WARNING),
        (0.002, True, Severity.WARNING),
        (0.003, True, Severity.CRITICAL),
        (0.02, True, Severity.CRITICAL),
    ],
    ids=["below-guard", "below-warning", "at-warning", "between", "at-critical", "above"],
)
def test_complaint_rate_alert(rate: float | None, active: bool | None, severity: Severity) -> None:
    found = by_key(
        campaign_observations(
            [CampaignRates("spring", rate, 0)], warning=0.001, critical=0.003, window="24h"
        )
    )
    obs = found["complaint_rate:spring"]
    assert (obs.kind, obs.active, obs.severity) == (AlertKind.COMPLAINT_RATE, active, severity)
    assert obs.labels == {"campaign": "spring", "window": "24h"}


@pytest.mark.parametrize(("violations", "active"), [(0, False), (1, True), (7, True)])
def test_unsubscribe_deadline_is_active_with_any_late_send(violations: int, active: bool) -> None:
    found = by_key(
        campaign_observations(
            [CampaignRates("spring", None, violations)],
            warning=0.001,
            critical=0.003,
            window="7d",
        )
    )
    obs = found["unsubscribe_deadline:spring"]
    assert (obs.kind, obs.active, obs.severity) == (
        AlertKind.UNSUBSCRIBE_DEADLINE,
        active,
        Severity.CRITICAL,
    )


def test_each_campaign_gets_its_own_pair_of_alerts() -> None:
    found = campaign_observations(
        [CampaignRates("a", 0.0, 0), CampaignRates("b", 0.01, 2)],
        warning=0.001,
        critical=0.003,
        window="24h",
    )
    assert sorted(by_key(found)) == [
        "complaint_rate:a",
        "complaint_rate:b",
        "unsubscribe_deadline:a",
        "unsubscribe_deadline:b",
    ]
