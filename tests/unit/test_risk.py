"""Pins the blacklist-risk score: each factor's points, levels, monotonicity, unknowns, the docs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from checks.dnsbl.catalogue import Severity, load_catalogue
from monitor.risk import score as risk
from monitor.risk.score import (
    APPLICABLE,
    FACTOR_STATES,
    FACTORS,
    TELEMETRY_FACTORS,
    FactorName,
    Listing,
    RiskInputs,
    RiskLevel,
    level_for,
    score_risk,
)

RISK_DOC = Path(__file__).resolve().parents[2] / "docs" / "risk.md"

# Every input known and good: the score is 0 and nothing is unknown.
CLEAN_DOMAIN = RiskInputs(
    "example.com",
    "domain",
    listings=(),
    complaint_rate=0.0002,
    complaint_rate_daily=(0.0002,) * 7,
    unsubscribe_rate=0.002,
    unsubscribe_baseline=0.002,
    bounce_rate=0.01,
    bounce_baseline=0.01,
    spf_own_ip_fail=False,
    dmarc_policy="reject",
    dkim="ok",
    one_click_failures=0,
    one_click_audited=50,
)
CLEAN_IP = RiskInputs("192.0.2.10", "ip", listings=(), spf_own_ip_fail=False, fcrdns=True)

ZEN = Listing("zen.spamhaus.org", Severity.CRITICAL)
DBL = Listing("dbl.spamhaus.org", Severity.CRITICAL)
SPAMCOP = Listing("bl.spamcop.net", Severity.MAJOR)
BARRACUDA = Listing("b.barracudacentral.org", Severity.MAJOR)
PSBL = Listing("psbl.surriel.com", Severity.MINOR)
UCEPROTECT_2 = Listing("dnsbl-2.uceprotect.net", Severity.INFO, early_warning=True)
ZRD = Listing("zrd.dq.spamhaus.net", Severity.MAJOR, early_warning=True)


def domain(**changes: Any) -> RiskInputs:
    return replace(CLEAN_DOMAIN, **changes)


def ip(**changes: Any) -> RiskInputs:
    return replace(CLEAN_IP, **changes)


def test_clean_targets_score_zero_with_nothing_unknown() -> None:
    for inputs in (CLEAN_DOMAIN, CLEAN_IP):
        result = score_risk(inputs)
        assert (result.score, result.level, result.unknown) == (0, RiskLevel.OK, ())


# --- levels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "level"),
    [
        pytest.param(0, RiskLevel.OK, id="0-ok"),
        pytest.param(19, RiskLevel.OK, id="19-ok"),
        pytest.param(20, RiskLevel.ELEVATED, id="20-elevated"),
        pytest.param(49, RiskLevel.ELEVATED, id="49-elevated"),
        pytest.param(50, RiskLevel.HIGH, id="50-high"),
        pytest.param(79, RiskLevel.HIGH, id="79-high"),
        pytest.param(80, RiskLevel.CRITICAL, id="80-critical"),
        pytest.param(100, RiskLevel.CRITICAL, id="100-critical"),
    ],
)
def test_level_boundaries(score: int, level: RiskLevel) -> None:
    assert level_for(score) is level


@pytest.mark.parametrize("score", [-1, 101], ids=["negative", "over-100"])
def test_level_for_refuses_a_score_outside_0_to_100(score: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        level_for(score)


# --- each factor moves the score as documented ----------------------------------------------


@dataclass(frozen=True)
class Move:
    inputs: RiskInputs
    factor: FactorName
    points: int
    code: str
    level: RiskLevel


F = FactorName
L = RiskLevel
MOVES = {
    "zen-listing": Move(ip(listings=(ZEN,)), F.LISTING_CRITICAL, 80, "listed", L.CRITICAL),
    "dbl-listing": Move(domain(listings=(DBL,)), F.LISTING_CRITICAL, 80, "listed", L.CRITICAL),
    "two-critical": Move(ip(listings=(ZEN, DBL)), F.LISTING_CRITICAL, 100, "listed", L.CRITICAL),
    "spamcop-listing": Move(ip(listings=(SPAMCOP,)), F.LISTING_MAJOR, 50, "listed", L.HIGH),
    "two-major": Move(ip(listings=(SPAMCOP, BARRACUDA)), F.LISTING_MAJOR, 63, "listed", L.HIGH),
    "same-zone-twice": Move(ip(listings=(SPAMCOP, SPAMCOP)), F.LISTING_MAJOR, 50, "listed", L.HIGH),
    "psbl-listing": Move(ip(listings=(PSBL,)), F.LISTING_MINOR, 25, "listed", L.ELEVATED),
    "info-listing": Move(
        ip(listings=(Listing("custom.example", Severity.INFO),)), F.LISTING_INFO, 5, "listed", L.OK
    ),
    "uceprotect-2": Move(ip(listings=(UCEPROTECT_2,)), F.EARLY_WARNING, 20, "listed", L.ELEVATED),
    "zrd-counts-as-early-warning": Move(
        domain(listings=(ZRD,)), F.EARLY_WARNING, 20, "listed", L.ELEVATED
    ),
    "two-early-warnings": Move(
        ip(listings=(UCEPROTECT_2, Listing("rep.mailspike.net", Severity.INFO, True))),
        F.EARLY_WARNING,
        25,
        "listed",
        L.ELEVATED,
    ),
    "critical-early-warning-is-critical": Move(
        ip(listings=(Listing("z.example", Severity.CRITICAL, True),)),
        F.LISTING_CRITICAL,
        80,
        "listed",
        L.CRITICAL,
    ),
    "complaints-0.08%": Move(
        domain(complaint_rate=0.0008), F.COMPLAINT_RATE, 12, "below_warn", L.OK
    ),
    "complaints-0.1%": Move(domain(complaint_rate=0.001), F.COMPLAINT_RATE, 20, "warn", L.ELEVATED),
    "complaints-0.2%": Move(domain(complaint_rate=0.002), F.COMPLAINT_RATE, 35, "warn", L.ELEVATED),
    "complaints-0.3%": Move(domain(complaint_rate=0.003), F.COMPLAINT_RATE, 50, "critical", L.HIGH),
    "complaints-1%": Move(
        domain(complaint_rate=0.01), F.COMPLAINT_RATE, 80, "critical", L.CRITICAL
    ),
    "complaints-rising": Move(
        domain(complaint_rate_daily=(0.0002, 0.0004, 0.0006, 0.0008, 0.001, 0.0012, 0.0014)),
        F.COMPLAINT_TREND,
        20,
        "rising",
        L.ELEVATED,
    ),
    "complaints-rising-slowly": Move(
        domain(complaint_rate_daily=(0.0002, 0.0003, 0.0004, 0.0005)),
        F.COMPLAINT_TREND,
        10,
        "rising",
        L.OK,
    ),
    "complaints-falling": Move(
        domain(complaint_rate_daily=(0.002, 0.0015, 0.001, 0.0005)),
        F.COMPLAINT_TREND,
        0,
        "flat",
        L.OK,
    ),
    "unsubscribes-3x": Move(domain(unsubscribe_rate=0.006), F.UNSUBSCRIBE_SPIKE, 9, "spike", L.OK),
    "unsubscribes-5x": Move(domain(unsubscribe_rate=0.01), F.UNSUBSCRIBE_SPIKE, 15, "spike", L.OK),
    "unsubscribes-tiny-baseline": Move(
        domain(unsubscribe_rate=0.0012, unsubscribe_baseline=0.0001),
        F.UNSUBSCRIBE_SPIKE,
        0,
        "normal",
        L.OK,
    ),
    "bounces-4x": Move(domain(bounce_rate=0.04), F.BOUNCE_SPIKE, 25, "spike", L.ELEVATED),
    "bounces-2x": Move(domain(bounce_rate=0.02), F.BOUNCE_SPIKE, 5, "spike", L.OK),
    "spf-fails-own-ip": Move(ip(spf_own_ip_fail=True), F.SPF_OWN_IP_FAIL, 20, "fail", L.ELEVATED),
    "dmarc-missing": Move(domain(dmarc_policy="missing"), F.DMARC_WEAK, 20, "missing", L.ELEVATED),
    "dmarc-p-none": Move(domain(dmarc_policy="none"), F.DMARC_WEAK, 5, "p_none", L.OK),
    "dmarc-quarantine": Move(domain(dmarc_policy="quarantine"), F.DMARC_WEAK, 0, "enforced", L.OK),
    "dkim-missing": Move(domain(dkim="missing"), F.DKIM_WEAK, 20, "missing", L.ELEVATED),
    "dkim-revoked": Move(domain(dkim="revoked"), F.DKIM_WEAK, 20, "revoked", L.ELEVATED),
    "dkim-weak": Move(domain(dkim="weak"), F.DKIM_WEAK, 10, "weak", L.OK),
    "no-fcrdns": Move(ip(fcrdns=False), F.FCRDNS_MISSING, 20, "missing", L.ELEVATED),
    "one-click-1-of-5": Move(
        domain(one_click_failures=1, one_click_audited=5), F.ONE_CLICK_FAILING, 7, "failing", L.OK
    ),
    "one-click-all": Move(
        domain(one_click_failures=9, one_click_audited=9), F.ONE_CLICK_FAILING, 15, "failing", L.OK
    ),
}


@pytest.mark.parametrize("move", MOVES.values(), ids=MOVES.keys())
def test_moving_one_factor_moves_score_and_level(move: Move) -> None:
    result = score_risk(move.inputs)
    factor = result.factor(move.factor)
    assert (factor.points, factor.code) == (move.points, f"{move.factor}.{move.code}")
    assert result.score == min(100, move.points)
    assert result.level is move.level
    assert all(f.points == 0 for f in result.factors if f.name is not move.factor)
    assert result.unknown == ()


def test_a_listing_names_its_zones() -> None:
    result = score_risk(ip(listings=(BARRACUDA, SPAMCOP)))
    assert result.factor("listing_major").zones == ("b.barracudacentral.org", "bl.spamcop.net")


@pytest.mark.parametrize(
    "zone_id", ["zen.spamhaus.org", "sbl.spamhaus.org", "xbl.spamhaus.org", "dbl.spamhaus.org"]
)
def test_a_listing_on_a_catalogue_critical_zone_alone_is_critical(zone_id: str) -> None:
    spec = load_catalogue().get(zone_id)
    assert spec is not None
    listing = Listing(spec.id, spec.severity, spec.early_warning)
    inputs = domain(listings=(listing,)) if spec.kind == "domain" else ip(listings=(listing,))
    assert score_risk(inputs).level is RiskLevel.CRITICAL


@pytest.mark.parametrize("rate", [0.001, 0.0015, 0.002, 0.0025, 0.00299], ids=str)
def test_complaint_rate_between_warn_and_critical_is_at_least_elevated(rate: float) -> None:
    assert score_risk(domain(complaint_rate=rate)).level is not RiskLevel.OK


@pytest.mark.parametrize("rate", [0.003, 0.004, 0.006, 0.01, 0.05, 1.0], ids=str)
def test_complaint_rate_at_or_above_critical_is_at_least_high(rate: float) -> None:
    assert score_risk(domain(complaint_rate=rate)).level in {RiskLevel.HIGH, RiskLevel.CRITICAL}


def test_factors_combine_and_cap_at_100() -> None:
    everything = domain(
        listings=(ZEN, SPAMCOP, PSBL, UCEPROTECT_2),
        complaint_rate=0.02,
        dmarc_policy="missing",
        dkim="missing",
        spf_own_ip_fail=True,
    )
    result = score_risk(everything)
    assert sum(f.points for f in result.factors) > 100
    assert (result.score, result.level) == (100, RiskLevel.CRITICAL)


def test_two_elevated_signals_add_up() -> None:
    result = score_risk(domain(complaint_rate=0.002, dkim="missing"))
    assert (result.score, result.level) == (55, RiskLevel.HIGH)


# --- monotonicity ---------------------------------------------------------------------------

RATES = [i / 20000 for i in range(401)]  # 0% .. 2% in steps of 0.005 percentage points


def test_more_complaints_never_lower_the_score() -> None:
    scores = [score_risk(domain(complaint_rate=r)).score for r in RATES]
    assert scores == sorted(scores)


def test_the_complaint_curve_has_no_jumps() -> None:
    scores = [score_risk(domain(complaint_rate=r)).score for r in RATES]
    assert max(b - a for a, b in pairwise(scores)) <= 3


@pytest.mark.parametrize("factor", [1.0, 1.5, 2.0, 5.0], ids=lambda f: f"x{f}")
@pytest.mark.parametrize(
    "series",
    [
        pytest.param((0.0002, 0.0004, 0.0005, 0.0007), id="rising"),
        pytest.param((0.0009, 0.0004, 0.0003, 0.0001), id="falling"),
        pytest.param((0.0004, None, 0.0004, 0.0009, None, 0.0008), id="gaps"),
    ],
)
def test_scaling_all_complaint_rates_up_never_lowers_the_score(
    series: tuple[float | None, ...], factor: float
) -> None:
    def scaled(k: float) -> RiskInputs:
        daily = tuple(None if r is None else r * k for r in series)
        last = next(r for r in reversed(daily) if r is not None)
        return domain(complaint_rate=last, complaint_rate_daily=daily)

    assert score_risk(scaled(factor)).score >= score_risk(scaled(1.0)).score


def test_a_worse_latest_day_never_lowers_the_trend() -> None:
    base = (0.0003, 0.0004, 0.0003, 0.0004, 0.0003)
    points = [
        score_risk(domain(complaint_rate_daily=(*base, last))).factor("complaint_trend").points
        for last in RATES[:60]
    ]
    assert points == sorted(points)


@pytest.mark.parametrize(
    ("rate_field", "baseline"),
    [("unsubscribe_rate", 0.002), ("bounce_rate", 0.01)],
    ids=["unsubscribes", "bounces"],
)
def test_higher_rates_against_the_baseline_never_lower_the_score(
    rate_field: str, baseline: float
) -> None:
    scores = [score_risk(domain(**{rate_field: baseline * k / 4})).score for k in range(41)]
    assert scores == sorted(scores)


def test_more_listings_never_lower_the_score() -> None:
    zones = (UCEPROTECT_2, PSBL, SPAMCOP, BARRACUDA, ZEN)
    scores = [score_risk(ip(listings=zones[:n])).score for n in range(len(zones) + 1)]
    assert scores == sorted(scores)


def test_more_one_click_failures_never_lower_the_score() -> None:
    scores = [
        score_risk(domain(one_click_failures=n, one_click_audited=20)).score for n in range(21)
    ]
    assert scores == sorted(scores)


# --- unknown inputs neither raise nor lower the score ----------------------------------------

UNKNOWN = {
    "dnsbl-not-checked": (domain(listings=None), domain(), 5),
    "complaint-rate-not-meaningful": (domain(complaint_rate=None), domain(), 1),
    "complaint-series-too-short": (
        domain(complaint_rate_daily=(0.0001, None, None, 0.0003, None, None, 0.002)),
        domain(),
        1,
    ),
    "unsubscribe-baseline-unknown": (domain(unsubscribe_baseline=None), domain(), 1),
    "bounce-rate-unknown": (domain(bounce_rate=None), domain(), 1),
    "spf-unknown": (ip(spf_own_ip_fail=None), ip(), 1),
    "dmarc-unknown": (domain(dmarc_policy=None), domain(), 1),
    "dkim-unknown": (domain(dkim=None), domain(), 1),
    "fcrdns-unknown": (ip(fcrdns=None), ip(), 1),
    "no-one-click-audits": (domain(one_click_failures=0, one_click_audited=0), domain(), 1),
    "one-click-unknown": (domain(one_click_failures=None, one_click_audited=None), domain(), 1),
    "critical-zone-unknown": (ip(unknown_zones=(ZEN,)), ip(), 1),
}


@pytest.mark.parametrize(("unknown", "good", "count"), UNKNOWN.values(), ids=UNKNOWN.keys())
def test_an_unknown_input_scores_like_a_good_one_and_is_reported(
    unknown: RiskInputs, good: RiskInputs, count: int
) -> None:
    result = score_risk(unknown)
    assert result.score == score_risk(good).score == 0
    assert len(result.unknown) == count
    for name in result.unknown:
        assert result.factor(name).code == f"{name}.unknown"
        assert math.isnan(result.value(name))


@pytest.mark.parametrize(("unknown", "good", "count"), UNKNOWN.values(), ids=UNKNOWN.keys())
def test_an_unknown_input_does_not_hide_other_bad_factors(
    unknown: RiskInputs, good: RiskInputs, count: int
) -> None:
    bad: dict[str, object]
    if unknown.kind == "ip":
        bad = {"fcrdns": False} if unknown.fcrdns is not None else {"spf_own_ip_fail": True}
    else:
        bad = {"dkim": "missing"} if unknown.dkim is not None else {"dmarc_policy": "missing"}
    assert score_risk(replace(unknown, **bad)).score == score_risk(replace(good, **bad)).score == 20


def test_a_listing_with_an_unknown_zone_of_the_same_severity_is_a_lower_bound() -> None:
    result = score_risk(ip(listings=(SPAMCOP,), unknown_zones=(BARRACUDA,)))
    assert result.score == 50
    assert result.unknown == (FactorName.LISTING_MAJOR,)
    assert result.value("listing_major") == 50.0


def test_an_unknown_zone_of_another_severity_leaves_the_listing_known() -> None:
    result = score_risk(ip(listings=(SPAMCOP,), unknown_zones=(ZEN,)))
    assert result.unknown == (FactorName.LISTING_CRITICAL,)
    assert math.isnan(result.value("listing_critical"))


# --- the factor set ------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", [CLEAN_DOMAIN, CLEAN_IP], ids=["domain", "ip"])
def test_every_factor_is_reported_in_order_with_a_registered_code(inputs: RiskInputs) -> None:
    result = score_risk(inputs)
    assert tuple(f.name for f in result.factors) == FACTORS
    for f in result.factors:
        name, state = f.code.split(".")
        assert name == f.name
        assert state in FACTOR_STATES[f.name]
        untracked = f.name in TELEMETRY_FACTORS  # no receiver telemetry configured
        assert (state == "not_applicable") is (f.name not in APPLICABLE[inputs.kind] or untracked)


@pytest.mark.parametrize(
    ("inputs", "factors"),
    [
        (replace(CLEAN_DOMAIN, gmail_tracked=True), ("gmail_spam_rate", "gmail_compliance")),
        (replace(CLEAN_IP, snds_tracked=True), ("snds_filter", "snds_trap_hits", "snds_blocked")),
    ],
    ids=["gmail", "snds"],
)
def test_tracked_telemetry_without_data_is_unknown_not_clean(
    inputs: RiskInputs, factors: tuple[str, ...]
) -> None:
    result = score_risk(inputs)
    assert {str(f) for f in result.unknown} == set(factors)
    assert all(math.isnan(result.value(f)) for f in factors)


def test_factor_names_are_a_closed_set_of_metric_safe_labels() -> None:
    assert set(FACTOR_STATES) == set(FACTORS)
    assert all(re.fullmatch(r"[a-z][a-z_]*", name) for name in FACTORS)
    assert len(FACTORS) == len(set(FACTORS))


def test_an_unknown_factor_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        score_risk(CLEAN_IP).factor("reputation")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"complaint_rate": 1.5}, "fraction", id="rate-over-1"),
        pytest.param({"complaint_rate": -0.1}, "fraction", id="negative-rate"),
        pytest.param({"bounce_rate": math.nan}, "fraction", id="nan-rate"),
        pytest.param({"complaint_rate_daily": (0.1, 2.0)}, r"daily\[1\]", id="bad-daily-rate"),
        pytest.param({"one_click_failures": 3, "one_click_audited": 2}, "<=", id="more-failures"),
        pytest.param({"one_click_failures": -1}, "<=", id="negative-failures"),
        pytest.param({"one_click_audited": None}, "together", id="half-the-audit"),
        pytest.param({"fcrdns": True}, "fcrdns does not apply", id="fcrdns-on-domain"),
        pytest.param({"kind": "asn"}, "kind", id="unknown-kind"),
        pytest.param(
            {"unconfigured": frozenset({FactorName.DKIM_WEAK})},
            "dkim is given for dkim_weak, which is unconfigured",
            id="dkim-given-and-unconfigured",
        ),
        pytest.param(
            {"unconfigured": frozenset({FactorName.DMARC_WEAK}), "dmarc_policy": None},
            "only dkim_weak, spf_own_ip_fail can be unconfigured: dmarc_weak",
            id="dmarc-cannot-be-unconfigured",
        ),
    ],
)
def test_misuse_of_domain_inputs_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        domain(**changes)


@pytest.mark.parametrize(
    "changes",
    [{"dmarc_policy": "reject"}, {"complaint_rate": 0.0}, {"complaint_rate_daily": (0.001,)}],
    ids=["dmarc", "zero-complaint-rate", "complaint-series"],
)
def test_domain_only_inputs_on_an_ip_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="does not apply"):
        ip(**changes)


@pytest.mark.parametrize("factor", [FactorName.SPF_OWN_IP_FAIL, FactorName.DKIM_WEAK])
def test_an_unconfigured_factor_is_not_applicable_not_unknown(factor: FactorName) -> None:
    """A domain without sending IPs (SPF) or DKIM selectors: nothing to evaluate, so the
    factor is not unknown for good (the score is not a lower bound for it)."""
    unknown = score_risk(domain(spf_own_ip_fail=None, dkim=None))
    assert {FactorName.SPF_OWN_IP_FAIL, FactorName.DKIM_WEAK} <= set(unknown.unknown)
    field = {FactorName.SPF_OWN_IP_FAIL: "spf_own_ip_fail", FactorName.DKIM_WEAK: "dkim"}[factor]
    scored = score_risk(domain(**{field: None}, unconfigured=frozenset({factor})))
    assert factor not in scored.unknown
    assert scored.factor(factor).code == f"{factor}.not_applicable"
    assert scored.value(factor) == 0.0


# --- docs/risk.md stays in sync with the code ----------------------------------------------


@dataclass(frozen=True)
class Scenario:
    description: str
    inputs: RiskInputs
    level: RiskLevel


UNKNOWN_IP = RiskInputs("192.0.2.10", "ip")
SCENARIOS = {
    "all-good": Scenario("Domain, every check good", CLEAN_DOMAIN, L.OK),
    "complaints-0.08": Scenario(
        "Complaint rate 0.08%, nothing else", domain(complaint_rate=0.0008), L.OK
    ),
    "complaints-0.2": Scenario(
        "Complaint rate 0.2%, no listing", domain(complaint_rate=0.002), L.ELEVATED
    ),
    "complaints-0.35": Scenario("Complaint rate 0.35%", domain(complaint_rate=0.0035), L.HIGH),
    "complaints-rising": Scenario(
        "Complaint rate 0.08%, up from 0.02% a week ago",
        domain(
            complaint_rate=0.0008,
            complaint_rate_daily=(0.0002, 0.0003, 0.0004, 0.0005, 0.0006, 0.0007, 0.0008),
        ),
        L.ELEVATED,
    ),
    "zen": Scenario("IP listed on zen.spamhaus.org (critical)", ip(listings=(ZEN,)), L.CRITICAL),
    "spamcop": Scenario("IP listed on bl.spamcop.net (major)", ip(listings=(SPAMCOP,)), L.HIGH),
    "psbl": Scenario("IP listed on psbl.surriel.com (minor)", ip(listings=(PSBL,)), L.ELEVATED),
    "uceprotect-2": Scenario(
        "IP's range on dnsbl-2.uceprotect.net (early warning)",
        ip(listings=(UCEPROTECT_2,)),
        L.ELEVATED,
    ),
    "no-fcrdns": Scenario("IP without forward-confirmed PTR", ip(fcrdns=False), L.ELEVATED),
    "p-none-weak-dkim": Scenario(
        "DMARC p=none and a 1024-bit DKIM key",
        domain(dmarc_policy="none", dkim="weak"),
        L.OK,
    ),
    "auth-broken": Scenario(
        "SPF fails for an own IP, no DKIM, no DMARC",
        domain(spf_own_ip_fail=True, dkim="missing", dmarc_policy="missing"),
        L.HIGH,
    ),
    "bounces-4x": Scenario(
        "Bounce rate 4% against a 1% baseline", domain(bounce_rate=0.04), L.ELEVATED
    ),
    "unsubscribes-3x": Scenario(
        "Unsubscribe rate 0.6% against a 0.2% baseline", domain(unsubscribe_rate=0.006), L.OK
    ),
    "one-click": Scenario(
        "One-click unsubscribe failing in 10 of 40 audits",
        domain(one_click_failures=10, one_click_audited=40),
        L.OK,
    ),
    "complaints-and-spamcop": Scenario(
        "Complaint rate 0.2% and a bl.spamcop.net listing",
        domain(complaint_rate=0.002, listings=(SPAMCOP,)),
        L.CRITICAL,
    ),
    "everything": Scenario(
        "ZEN listing, 2% complaints, no DMARC",
        domain(listings=(ZEN,), complaint_rate=0.02, dmarc_policy="missing"),
        L.CRITICAL,
    ),
    "gmail-0.15": Scenario(
        "Gmail spam rate 0.15% (Postmaster Tools)",
        domain(gmail_tracked=True, gmail_spam_rate=0.0015),
        L.ELEVATED,
    ),
    "gmail-0.35": Scenario(
        "Gmail spam rate 0.35%", domain(gmail_tracked=True, gmail_spam_rate=0.0035), L.HIGH
    ),
    "gmail-recovering": Scenario(
        "Gmail spam rate 0.05%, 0.4% three days ago",
        domain(gmail_tracked=True, gmail_spam_rate=0.0005, gmail_recovering=True),
        L.HIGH,
    ),
    "snds-yellow": Scenario(
        "SNDS filter result yellow", ip(snds_tracked=True, snds_filter="yellow"), L.ELEVATED
    ),
    "snds-red-traps": Scenario(
        "SNDS red with trap hits",
        ip(snds_tracked=True, snds_filter="red", snds_trap_hits=3),
        L.CRITICAL,
    ),
    "snds-blocked": Scenario(
        "IP blocked by Outlook.com (SNDS)", ip(snds_tracked=True, snds_blocked=True), L.CRITICAL
    ),
    "nothing-known": Scenario("IP before its first checks", UNKNOWN_IP, L.OK),
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_documented_scenario_has_its_level(scenario: Scenario) -> None:
    assert score_risk(scenario.inputs).level is scenario.level


def render_scenarios() -> str:
    lines = ["| Scenario | Score | Level | Points | Unknown |", "|---|---:|---|---|---:|"]
    for scenario in SCENARIOS.values():
        result = score_risk(scenario.inputs)
        points = ", ".join(f"`{f.name}` {f.points}" for f in result.factors if f.points) or "-"
        lines.append(
            f"| {scenario.description} | {result.score} | {result.level} | {points} "
            f"| {len(result.unknown)} |"
        )
    return "\n".join(lines)


def render_codes() -> str:
    lines = ["| Factor | Applies to | Codes |", "|---|---|---|"]
    for name in FACTORS:
        kinds = " and ".join(k for k in ("ip", "domain") if name in APPLICABLE[k])
        codes = ", ".join(f"`{name}.{state}`" for state in FACTOR_STATES[name])
        lines.append(f"| `{name}` | {kinds} | {codes} |")
    return "\n".join(lines)


def format_constant(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, tuple):
        return ", ".join(f"{x:g} → {y}" for x, y in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


NUMERIC_CONSTANTS = {
    name: getattr(risk, name)
    for name in dir(risk)
    if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)
    and name not in {"FACTORS", "FACTOR_STATES", "APPLICABLE", "TELEMETRY_FACTORS"}
}


def render_constants() -> str:
    lines = ["| Constant | Value |", "|---|---|"]
    lines += [f"| `{n}` | {format_constant(v)} |" for n, v in NUMERIC_CONSTANTS.items()]
    return "\n".join(lines)


def generated_block(text: str, name: str) -> str:
    match = re.search(rf"<!-- begin {name} -->\n(.*?)\n<!-- end {name} -->", text, re.DOTALL)
    assert match, f"docs/risk.md has no '<!-- begin {name} -->' ... '<!-- end {name} -->' block"
    return match.group(1)


@pytest.mark.parametrize(
    ("name", "render"),
    [("scenarios", render_scenarios), ("codes", render_codes), ("constants", render_constants)],
    ids=["scenarios", "codes", "constants"],
)
def test_generated_doc_block_matches_the_code(name: str, render: Any) -> None:
    expected = render()
    assert generated_block(RISK_DOC.read_text("utf-8"), name) == expected, (
        f"docs/risk.md block '{name}' is out of date; replace it with:\n{expected}"
    )


@pytest.mark.parametrize("name", list(FACTORS), ids=list(FACTORS))
def test_every_factor_has_its_own_section_in_the_doc(name: str) -> None:
    assert f"### `{name}`" in RISK_DOC.read_text("utf-8")


def test_constants_quoted_in_the_doc_prose_have_their_current_value() -> None:
    text = RISK_DOC.read_text("utf-8")
    quoted = re.findall(r"`([A-Z][A-Z0-9_]+)` \(([^)]+)\)", text)
    assert quoted, "the prose should quote constants as `NAME` (value)"
    for name, value in quoted:
        assert name in NUMERIC_CONSTANTS, f"docs/risk.md quotes an unknown constant {name}"
        assert value == format_constant(NUMERIC_CONSTANTS[name]), name


def test_the_complaint_table_in_the_doc_matches_the_curve() -> None:
    text = RISK_DOC.read_text("utf-8")
    rows = re.findall(r"^\| ([\d.]+)%[^|]* \| (\d+) \| (\w+) \|", text, re.MULTILINE)
    assert len(rows) >= 5
    for percent, points, level in rows:
        result = score_risk(domain(complaint_rate=float(percent) / 100))
        assert (result.score, str(result.level)) == (int(points), level), percent
