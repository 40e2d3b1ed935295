"""Gathering a target's RiskInputs from its latest check states (monitor/risk/inputs.py), and
the score those inputs give (monitor/risk/score.py, docs/risk.md). States are built from the checks'
result dataclasses by monitor/checking/states.py, as the daemon's jobs build them."""

from __future__ import annotations

import dataclasses

import pytest

from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import DnsblTargetResult
from checks.dnsbl.catalogue import Severity, load_catalogue
from checks.dnsbl.targets import parse_target
from checks.dnsbl.verdict import DnsblResult, Verdict
from checks.findings import Finding, FindingSeverity
from checks.host import PtrResult
from checks.status import CheckStatus
from monitor.checking.states import (
    CheckName,
    CheckState,
    states_from_dnsbl,
)
from monitor.checking.table import state_of
from monitor.risk.inputs import DomainFigures, build_risk_inputs
from monitor.risk.score import Listing, RiskLevel, score_risk

from . import metrics_view as mv

ZONES = {z.id: z for z in load_catalogue().zones}
IP = mv.IP
DOMAIN = mv.DOMAIN


def dnsbl(target: str, *results: DnsblResult) -> list[CheckState]:
    return list(states_from_dnsbl([DnsblTargetResult(parse_target(target), results, ())], mv.AT))


def spf(domain: str, status: CheckStatus, ip_results: dict[str, str]) -> CheckState:
    result = dataclasses.replace(mv.SPF, domain=domain, status=status, ip_results=ip_results)
    return state_of(CheckName.SPF, domain, result, mv.AT)


def ptr(forward_confirmed: bool | None, status: CheckStatus = CheckStatus.OK) -> CheckState:
    result = PtrResult(IP, status, ("mail.example.com",), forward_confirmed, (), ())
    (state,) = [state_of(CheckName.PTR, IP, result, mv.AT)]
    return state


def dmarc(status: CheckStatus, record: str | None, policy: str | None) -> CheckState:
    result = DmarcResult(DOMAIN, status, record=record, policy=policy)
    return state_of(CheckName.DMARC, DOMAIN, result, mv.AT)


def finding(code: str, severity: FindingSeverity = FindingSeverity.ERROR) -> Finding:
    return Finding(code, severity, code)


def dkim(
    selector: str,
    status: CheckStatus,
    record: str | None = "v=DKIM1; k=rsa; p=MIIB...",
    *findings: Finding,
    bits: int | None = 2048,
) -> CheckState:
    result = DkimResult(
        selector=selector,
        status=status,
        record=record,
        key_type="rsa" if record else None,
        key_bits=bits if record else None,
        testing=any(f.code == "dkim.testing" for f in findings),
        cname_chain=(),
        findings=findings,
    )
    return state_of(CheckName.DKIM, DOMAIN, result, mv.AT)


OK_KEY = dkim("ok", CheckStatus.OK)
WEAK_KEY = dkim(
    "weak",
    CheckStatus.WARN,
    "v=DKIM1; p=MIGf...",
    finding("dkim.key_weak", FindingSeverity.WARNING),
)
REVOKED_KEY = dkim("revoked", CheckStatus.FAIL, "v=DKIM1; p=", finding("dkim.revoked"))
MISSING_KEY = dkim("missing", CheckStatus.FAIL, None, finding("dkim.missing"))
UNKNOWN_KEY = dkim("unknown", CheckStatus.UNKNOWN, None, finding("dkim.lookup_failed"))


# --- listings ---------------------------------------------------------------------------------


def test_listings_take_the_states_severity_else_the_zones_and_the_early_warning_flag() -> None:
    states = dnsbl(
        IP,
        DnsblResult(
            "zen.spamhaus.org", Verdict.LISTED, codes=("127.0.0.10",), severity=Severity.MAJOR
        ),
        DnsblResult("bl.spamcop.net", Verdict.LISTED),
        DnsblResult("dnsbl-2.uceprotect.net", Verdict.LISTED),
        DnsblResult("psbl.surriel.com", Verdict.NOT_LISTED),
    )
    inputs = build_risk_inputs(IP, "ip", states, zones=ZONES)
    assert inputs.listings == (
        Listing("zen.spamhaus.org", Severity.MAJOR, False),  # the PBL code's severity
        Listing("bl.spamcop.net", Severity.MAJOR, False),  # the zone's
        Listing("dnsbl-2.uceprotect.net", Severity.INFO, True),  # early warning from the zone
    )
    assert inputs.unknown_zones == ()


def test_unknown_verdicts_are_unknown_zones_not_listings() -> None:
    inputs = build_risk_inputs(IP, "ip", mv.dnsbl_states()[:3], zones=ZONES)
    assert inputs.listings == (Listing("zen.spamhaus.org", Severity.MAJOR, False),)
    assert inputs.unknown_zones == (Listing("dnsbl-2.uceprotect.net", Severity.INFO, True),)


def test_a_zone_outside_the_catalogue_counts_as_major() -> None:
    states = dnsbl(IP, DnsblResult("custom.example", Verdict.LISTED))
    inputs = build_risk_inputs(IP, "ip", states, zones=ZONES)
    assert inputs.listings == (Listing("custom.example", Severity.MAJOR, False),)


def test_a_target_never_swept_has_listings_none_and_one_clean_sweep_has_none_listed() -> None:
    assert build_risk_inputs(IP, "ip", [ptr(True)], zones=ZONES).listings is None
    clean = dnsbl(IP, DnsblResult("zen.spamhaus.org", Verdict.NOT_LISTED))
    assert build_risk_inputs(IP, "ip", clean, zones=ZONES).listings == ()


# --- IP: FCrDNS and SPF -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "fcrdns"),
    [
        (ptr(True), True),
        (ptr(False, CheckStatus.FAIL), False),
        (ptr(None, CheckStatus.UNKNOWN), None),
    ],
    ids=["confirmed", "not-confirmed", "unknown"],
)
def test_ip_fcrdns_comes_from_the_ptr_detail(state: CheckState, fcrdns: bool | None) -> None:
    assert build_risk_inputs(IP, "ip", [state], zones=ZONES).fcrdns is fcrdns


def test_ip_without_a_ptr_check_has_fcrdns_unknown() -> None:
    assert build_risk_inputs(IP, "ip", [], zones=ZONES).fcrdns is None


@pytest.mark.parametrize(
    ("results", "fail"),
    [
        (["fail"], True),
        (["softfail"], True),
        (["pass", "fail"], True),
        (["pass"], False),
        (["pass", "pass"], False),
        (["neutral"], True),
        (["none"], True),
        (["permerror"], True),
        (["pass", "neutral"], True),
        (["temperror", "permerror"], True),
        (["temperror"], None),
        (["pass", "temperror"], None),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, list) else str(v),
)
def test_ip_spf_from_the_domains_that_list_it(results: list[str], fail: bool | None) -> None:
    spf_states = [
        spf(f"d{i}.example", CheckStatus.OK, {IP: r, "198.51.100.1": "fail"})
        for i, r in enumerate(results)
    ]
    inputs = build_risk_inputs(IP, "ip", [], zones=ZONES, spf_for_ip=spf_states)
    assert inputs.spf_own_ip_fail is fail


def test_ip_spf_ignores_open_results_and_domains_not_listing_it() -> None:
    spf_states = [
        spf("a.example", CheckStatus.UNKNOWN, {IP: "temperror"}),
        spf("b.example", CheckStatus.OK, {"198.51.100.1": "fail"}),
    ]
    assert (
        build_risk_inputs(IP, "ip", [], zones=ZONES, spf_for_ip=spf_states).spf_own_ip_fail is None
    )
    # A run that hit a DNS error still decided this IP: its fail is certain.
    decided = [spf("a.example", CheckStatus.UNKNOWN, {IP: "fail", "198.51.100.1": "temperror"})]
    assert build_risk_inputs(IP, "ip", [], zones=ZONES, spf_for_ip=decided).spf_own_ip_fail is True
    assert build_risk_inputs(IP, "ip", [], zones=ZONES).spf_own_ip_fail is None


# --- domain: SPF, DMARC, DKIM, figures --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ip_results", "fail"),
    [
        (CheckStatus.OK, {IP: "pass", mv.IP6: "pass"}, False),
        (CheckStatus.WARN, {IP: "pass", mv.IP6: "softfail"}, True),
        (CheckStatus.OK, {IP: "neutral"}, True),
        (CheckStatus.FAIL, {IP: "permerror", mv.IP6: "permerror"}, True),
        (CheckStatus.FAIL, {IP: "none"}, True),
        (CheckStatus.OK, {IP: "pass", mv.IP6: "temperror"}, None),
        (CheckStatus.OK, {}, None),
        (CheckStatus.UNKNOWN, {IP: "fail", mv.IP6: "temperror"}, True),
        (CheckStatus.UNKNOWN, {IP: "temperror"}, None),
    ],
    ids=[
        "all-pass",
        "one-softfail",
        "neutral",
        "permerror",
        "no-record",
        "temperror",
        "no-ips",
        "unknown-with-a-certain-fail",
        "unknown",
    ],
)
def test_domain_spf_for_its_own_ips(
    status: CheckStatus, ip_results: dict[str, str], fail: bool | None
) -> None:
    inputs = build_risk_inputs(DOMAIN, "domain", [spf(DOMAIN, status, ip_results)], zones=ZONES)
    assert inputs.spf_own_ip_fail is fail


@pytest.mark.parametrize(
    ("state", "policy"),
    [
        (dmarc(CheckStatus.FAIL, None, None), "missing"),
        (dmarc(CheckStatus.WARN, "v=DMARC1; p=none", "none"), "none"),
        (dmarc(CheckStatus.OK, "v=DMARC1; p=quarantine", "quarantine"), "quarantine"),
        (dmarc(CheckStatus.OK, "v=DMARC1; p=reject", "reject"), "reject"),
        (dmarc(CheckStatus.UNKNOWN, None, None), None),
    ],
    ids=["missing", "none", "quarantine", "reject", "unknown"],
)
def test_domain_dmarc_policy(state: CheckState, policy: str | None) -> None:
    assert build_risk_inputs(DOMAIN, "domain", [state], zones=ZONES).dmarc_policy == policy


def test_domain_without_a_dmarc_check_is_unknown() -> None:
    assert build_risk_inputs(DOMAIN, "domain", [], zones=ZONES).dmarc_policy is None


@pytest.mark.parametrize(
    ("keys", "best"),
    [
        ([OK_KEY], "ok"),
        ([WEAK_KEY], "weak"),
        ([REVOKED_KEY], "revoked"),
        ([MISSING_KEY], "missing"),
        ([MISSING_KEY, REVOKED_KEY, WEAK_KEY, OK_KEY], "ok"),
        ([MISSING_KEY, WEAK_KEY, REVOKED_KEY], "weak"),
        ([MISSING_KEY, REVOKED_KEY], "revoked"),
        ([UNKNOWN_KEY, MISSING_KEY], "missing"),
        ([UNKNOWN_KEY, OK_KEY], "ok"),
        ([UNKNOWN_KEY], None),
        ([], None),
    ],
    ids=lambda v: "+".join(s.item for s in v) if isinstance(v, list) else str(v),
)
def test_domain_dkim_is_the_best_selector(keys: list[CheckState], best: str | None) -> None:
    assert build_risk_inputs(DOMAIN, "domain", keys, zones=ZONES).dkim == best


def test_domain_dkim_key_under_1024_bits_counts_as_missing() -> None:
    # docs/risk.md (dkim_weak): "A key shorter than 1024 bits is rejected by verifiers and
    # should be given as `missing`."
    short = dkim("short", CheckStatus.FAIL, "v=DKIM1; p=MFww...", finding("dkim.key_too_short"))
    assert build_risk_inputs(DOMAIN, "domain", [short], zones=ZONES).dkim == "missing"


def test_domain_dkim_key_in_testing_mode_counts_as_weak() -> None:
    # docs/risk.md (dkim_weak): "A weak key (RSA 1024-2047 bits ..., or a key in testing
    # mode) still verifies: DKIM_WEAK_POINTS."
    testing = dkim(
        "testing",
        CheckStatus.WARN,
        "v=DKIM1; t=y; p=MIIB...",
        finding("dkim.testing", FindingSeverity.WARNING),
    )
    assert build_risk_inputs(DOMAIN, "domain", [testing], zones=ZONES).dkim == "weak"


def test_domain_figures_are_passed_through() -> None:
    figures = DomainFigures(
        complaint_rate=0.002,
        complaint_rate_daily=(None, 0.001, 0.002),
        unsubscribe_rate=0.004,
        unsubscribe_baseline=0.002,
        bounce_rate=0.03,
        bounce_baseline=0.01,
        one_click_failures=3,
        one_click_audited=40,
    )
    inputs = build_risk_inputs(DOMAIN, "domain", [], zones=ZONES, figures=figures)
    assert (
        inputs.complaint_rate,
        inputs.complaint_rate_daily,
        inputs.unsubscribe_rate,
        inputs.unsubscribe_baseline,
        inputs.bounce_rate,
        inputs.bounce_baseline,
        inputs.one_click_failures,
        inputs.one_click_audited,
    ) == (0.002, (None, 0.001, 0.002), 0.004, 0.002, 0.03, 0.01, 3, 40)


def test_domain_without_figures_has_every_rate_unknown() -> None:
    inputs = build_risk_inputs(DOMAIN, "domain", [], zones=ZONES)
    assert (inputs.complaint_rate, inputs.complaint_rate_daily, inputs.one_click_audited) == (
        None,
        (),
        None,
    )


# --- end to end: inputs -> score, as docs/risk.md says ----------------------------------------


def test_ip_listed_on_zen_without_fcrdns_is_critical() -> None:
    states = [
        *dnsbl(IP, DnsblResult("zen.spamhaus.org", Verdict.LISTED, codes=("127.0.0.2",))),
        ptr(False, CheckStatus.FAIL),
    ]
    good_spf = [spf(DOMAIN, CheckStatus.OK, {IP: "pass"})]
    score = score_risk(build_risk_inputs(IP, "ip", states, zones=ZONES, spf_for_ip=good_spf))
    assert score.level is RiskLevel.CRITICAL
    assert score.factor("listing_critical").points == 80
    assert score.factor("fcrdns_missing").points == 20
    assert score.score == 100


def test_ip_delisted_and_confirmed_drops_to_ok() -> None:
    states = [*dnsbl(IP, DnsblResult("zen.spamhaus.org", Verdict.NOT_LISTED)), ptr(True)]
    good_spf = [spf(DOMAIN, CheckStatus.OK, {IP: "pass"})]
    score = score_risk(build_risk_inputs(IP, "ip", states, zones=ZONES, spf_for_ip=good_spf))
    assert (score.score, score.level, score.unknown) == (0, RiskLevel.OK, ())


def test_domain_spf_fail_no_dkim_no_dmarc_is_high_as_in_the_examples() -> None:
    # docs/risk.md examples: "SPF fails for an own IP, no DKIM, no DMARC | 60 | high"
    states = [
        *dnsbl(DOMAIN, DnsblResult("dbl.spamhaus.org", Verdict.NOT_LISTED)),
        spf(DOMAIN, CheckStatus.FAIL, {IP: "fail"}),
        dmarc(CheckStatus.FAIL, None, None),
        MISSING_KEY,
    ]
    figures = DomainFigures(
        complaint_rate=0.0002,
        complaint_rate_daily=(0.0002,) * 7,
        unsubscribe_rate=0.002,
        unsubscribe_baseline=0.002,
        bounce_rate=0.01,
        bounce_baseline=0.01,
        one_click_failures=0,
        one_click_audited=10,
    )
    score = score_risk(build_risk_inputs(DOMAIN, "domain", states, zones=ZONES, figures=figures))
    assert (score.score, score.level) == (60, RiskLevel.HIGH)
    assert {f.name.value: f.points for f in score.factors if f.points} == {
        "spf_own_ip_fail": 20,
        "dmarc_weak": 20,
        "dkim_weak": 20,
    }


def test_domain_with_unknown_checks_scores_no_points_for_them() -> None:
    states = [dmarc(CheckStatus.UNKNOWN, None, None), UNKNOWN_KEY]
    score = score_risk(build_risk_inputs(DOMAIN, "domain", states, zones=ZONES))
    assert score.score == 0
    assert {"dmarc_weak", "dkim_weak", "listing_critical"} <= {f.value for f in score.unknown}
