"""The blacklist-risk score: 0-100 per sending domain or IP, from listings and early signals.

Pure and sans-I/O: callers gather the latest check results and rates into a
``RiskInputs`` and call ``score_risk``. Every number used here is a module
constant documented in ``docs/risk.md`` (a test keeps the two in sync).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Literal

from checks.dnsbl.catalogue import Severity
from monitor.model.telemetry import (
    GMAIL_RECOVERY_DAYS,
    GMAIL_SPAM_CRITICAL_RATE,
    GMAIL_SPAM_WARN_RATE,
)

__all__ = [
    "APPLICABLE",
    "FACTORS",
    "FACTOR_STATES",
    "GMAIL_RECOVERY_DAYS",
    "GMAIL_SPAM_CRITICAL_RATE",
    "GMAIL_SPAM_WARN_RATE",
    "TELEMETRY_FACTORS",
    "DkimState",
    "DmarcPolicy",
    "FactorName",
    "Listing",
    "RiskFactor",
    "RiskInputs",
    "RiskLevel",
    "RiskScore",
    "SndsFilter",
    "TargetKind",
    "level_for",
    "score_risk",
]

TargetKind = Literal["ip", "domain"]
DmarcPolicy = Literal["none", "quarantine", "reject", "missing"]
DkimState = Literal["ok", "weak", "missing", "revoked"]
SndsFilter = Literal["green", "yellow", "red"]


class RiskLevel(StrEnum):
    OK = "ok"
    ELEVATED = "elevated"
    HIGH = "high"
    CRITICAL = "critical"


class FactorName(StrEnum):
    """The closed set of factors; values are metric label values and never change."""

    LISTING_CRITICAL = "listing_critical"
    LISTING_MAJOR = "listing_major"
    LISTING_MINOR = "listing_minor"
    LISTING_INFO = "listing_info"
    EARLY_WARNING = "early_warning"
    COMPLAINT_RATE = "complaint_rate"
    COMPLAINT_TREND = "complaint_trend"
    UNSUBSCRIBE_SPIKE = "unsubscribe_spike"
    BOUNCE_SPIKE = "bounce_spike"
    SPF_OWN_IP_FAIL = "spf_own_ip_fail"
    DMARC_WEAK = "dmarc_weak"
    DKIM_WEAK = "dkim_weak"
    FCRDNS_MISSING = "fcrdns_missing"
    ONE_CLICK_FAILING = "one_click_failing"
    # Receiver telemetry (Gmail Postmaster Tools, Microsoft SNDS): the receivers' own view.
    GMAIL_SPAM_RATE = "gmail_spam_rate"
    GMAIL_COMPLIANCE = "gmail_compliance"
    SNDS_FILTER = "snds_filter"
    SNDS_TRAP_HITS = "snds_trap_hits"
    SNDS_BLOCKED = "snds_blocked"


FACTORS: tuple[FactorName, ...] = tuple(FactorName)

# Explanation codes are "<factor>.<state>"; these are every state each factor can report.
_COMMON_STATES = ("unknown", "not_applicable")
FACTOR_STATES: Mapping[FactorName, tuple[str, ...]] = MappingProxyType(
    {
        **{
            f: ("listed", "clear", *_COMMON_STATES)
            for f in FACTORS
            if f.startswith("listing_") or f is FactorName.EARLY_WARNING
        },
        FactorName.COMPLAINT_RATE: ("below_warn", "warn", "critical", *_COMMON_STATES),
        FactorName.COMPLAINT_TREND: ("rising", "flat", *_COMMON_STATES),
        FactorName.UNSUBSCRIBE_SPIKE: ("spike", "normal", *_COMMON_STATES),
        FactorName.BOUNCE_SPIKE: ("spike", "normal", *_COMMON_STATES),
        FactorName.SPF_OWN_IP_FAIL: ("fail", "pass", *_COMMON_STATES),
        FactorName.DMARC_WEAK: ("missing", "p_none", "enforced", *_COMMON_STATES),
        FactorName.DKIM_WEAK: ("missing", "revoked", "weak", "ok", *_COMMON_STATES),
        FactorName.FCRDNS_MISSING: ("missing", "ok", *_COMMON_STATES),
        FactorName.ONE_CLICK_FAILING: ("failing", "ok", *_COMMON_STATES),
        FactorName.GMAIL_SPAM_RATE: (
            "below_warn",
            "warn",
            "critical",
            "recovering",
            *_COMMON_STATES,
        ),
        FactorName.GMAIL_COMPLIANCE: ("needs_work", "compliant", *_COMMON_STATES),
        FactorName.SNDS_FILTER: ("red", "yellow", "green", *_COMMON_STATES),
        FactorName.SNDS_TRAP_HITS: ("hits", "none", *_COMMON_STATES),
        FactorName.SNDS_BLOCKED: ("blocked", "not_blocked", *_COMMON_STATES),
    }
)

# Levels: the score at which each level starts.
LEVEL_ELEVATED_AT = 20
LEVEL_HIGH_AT = 50
LEVEL_CRITICAL_AT = 80

# Listings: points for the first listing of a severity; each further one adds a quarter.
LISTING_POINTS: Mapping[Severity, int] = MappingProxyType(
    {Severity.CRITICAL: 80, Severity.MAJOR: 50, Severity.MINOR: 25, Severity.INFO: 5}
)
LISTING_EXTRA_SHARE = 0.25
EARLY_WARNING_POINTS = 20

# Complaint rate (complaints / delivered): piecewise linear through these (rate, points).
COMPLAINT_WARN_RATE = 0.001  # Gmail FAQ: keep below 0.1%
COMPLAINT_CRITICAL_RATE = 0.003  # Gmail and Yahoo: never reach 0.3%
COMPLAINT_CURVE: tuple[tuple[float, int], ...] = (
    (0.0005, 0),
    (COMPLAINT_WARN_RATE, 20),
    (COMPLAINT_CRITICAL_RATE, 50),
    (0.01, 80),
)

# Complaint trend: least-squares slope over the last days of the daily series.
TREND_WINDOW_DAYS = 7
TREND_MIN_DAYS = 4
TREND_FULL_SLOPE = 0.0002  # +0.02 percentage points a day earns the full points
TREND_MAX_POINTS = 20

# Spikes: now / max(baseline, floor); points grow linearly from START to FULL ratio.
SPIKE_START_RATIO = 1.5
SPIKE_FULL_RATIO = 4.0
UNSUBSCRIBE_BASELINE_FLOOR = 0.001
UNSUBSCRIBE_SPIKE_MAX_POINTS = 15
BOUNCE_BASELINE_FLOOR = 0.01
BOUNCE_SPIKE_MAX_POINTS = 25

# Configuration signals.
SPF_OWN_IP_FAIL_POINTS = 20
DMARC_MISSING_POINTS = 20
DMARC_NONE_POINTS = 5
DKIM_MISSING_POINTS = 20
DKIM_WEAK_POINTS = 10
FCRDNS_MISSING_POINTS = 20
ONE_CLICK_MIN_POINTS = 5
ONE_CLICK_MAX_POINTS = 15

# Receiver telemetry: each signal lifts the score to the start of its level on its own.
GMAIL_SPAM_WARN_POINTS = 20
GMAIL_SPAM_CRITICAL_POINTS = 50
GMAIL_COMPLIANCE_POINTS = 20
SNDS_YELLOW_POINTS = 20
SNDS_RED_POINTS = 50
SNDS_TRAP_HITS_POINTS = 50
SNDS_BLOCKED_POINTS = 80

MAX_SCORE = 100

# Which factors describe which kind of target; the others are "not_applicable".
_IP_FACTORS = frozenset(
    {
        FactorName.LISTING_CRITICAL,
        FactorName.LISTING_MAJOR,
        FactorName.LISTING_MINOR,
        FactorName.LISTING_INFO,
        FactorName.EARLY_WARNING,
        FactorName.SPF_OWN_IP_FAIL,
        FactorName.FCRDNS_MISSING,
        FactorName.SNDS_FILTER,
        FactorName.SNDS_TRAP_HITS,
        FactorName.SNDS_BLOCKED,
    }
)
_IP_ONLY = frozenset(
    {
        FactorName.FCRDNS_MISSING,
        FactorName.SNDS_FILTER,
        FactorName.SNDS_TRAP_HITS,
        FactorName.SNDS_BLOCKED,
    }
)
APPLICABLE: Mapping[TargetKind, frozenset[FactorName]] = MappingProxyType(
    {"ip": _IP_FACTORS, "domain": frozenset(FACTORS) - _IP_ONLY}
)

# The RiskInputs fields each factor reads (the listing factors read ``listings``).
_INPUT_FIELDS: Mapping[FactorName, tuple[str, ...]] = MappingProxyType(
    {
        FactorName.COMPLAINT_RATE: ("complaint_rate",),
        FactorName.COMPLAINT_TREND: ("complaint_rate_daily",),
        FactorName.UNSUBSCRIBE_SPIKE: ("unsubscribe_rate", "unsubscribe_baseline"),
        FactorName.BOUNCE_SPIKE: ("bounce_rate", "bounce_baseline"),
        FactorName.SPF_OWN_IP_FAIL: ("spf_own_ip_fail",),
        FactorName.DMARC_WEAK: ("dmarc_policy",),
        FactorName.DKIM_WEAK: ("dkim",),
        FactorName.FCRDNS_MISSING: ("fcrdns",),
        FactorName.ONE_CLICK_FAILING: ("one_click_failures", "one_click_audited"),
        FactorName.GMAIL_SPAM_RATE: ("gmail_spam_rate", "gmail_recovering"),
        FactorName.GMAIL_COMPLIANCE: ("gmail_compliance_failing",),
        FactorName.SNDS_FILTER: ("snds_filter",),
        FactorName.SNDS_TRAP_HITS: ("snds_trap_hits",),
        FactorName.SNDS_BLOCKED: ("snds_blocked",),
    }
)

# Factors the configuration may give nothing to evaluate (``RiskInputs.unconfigured``).
_CONFIGURABLE = frozenset({FactorName.SPF_OWN_IP_FAIL, FactorName.DKIM_WEAK})


@dataclass(frozen=True, slots=True)
class Listing:
    """A DNSBL zone as the scorer sees it: a listing, or a zone whose verdict is unknown."""

    zone: str
    severity: Severity
    early_warning: bool = False


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """Everything known about one target. ``None`` means unknown or not meaningful.

    Rates are fractions (0.002 is 0.2%). ``listings`` is None until a DNSBL sweep
    has answered; ``unknown_zones`` are zones whose latest verdict is unknown;
    ``lists_apply`` False when no configured list can list the target (a domain with only
    IP lists, an IPv6 address with IPv4-only lists): the listing factors do not apply.
    ``complaint_rate_daily`` is oldest first, one rate (or None) per UTC day.
    ``unconfigured``: factors the configuration gives nothing to evaluate (SPF for a
    domain without sending IPs, DKIM without selectors): "not_applicable", not unknown.
    Raises ValueError on a rate outside 0..1, a negative count, or a value given
    for a factor that does not apply to the kind of target or is unconfigured.
    """

    target: str
    kind: TargetKind
    listings: tuple[Listing, ...] | None = None
    unknown_zones: tuple[Listing, ...] = ()
    lists_apply: bool = True
    complaint_rate: float | None = None
    complaint_rate_daily: tuple[float | None, ...] = ()
    unsubscribe_rate: float | None = None
    unsubscribe_baseline: float | None = None
    bounce_rate: float | None = None
    bounce_baseline: float | None = None
    spf_own_ip_fail: bool | None = None
    dmarc_policy: DmarcPolicy | None = None
    dkim: DkimState | None = None
    fcrdns: bool | None = None
    one_click_failures: int | None = None
    one_click_audited: int | None = None
    # Receiver telemetry is "not_applicable" unless the source covers the target (a domain
    # in [telemetry.gmail], an IP while [telemetry.snds] is set); then None is unknown.
    gmail_tracked: bool = False
    snds_tracked: bool = False
    # Gmail Postmaster Tools (domain): the latest day's user-reported spam rate; whether a
    # day at or above 0.3% lies within the recovery window; a compliance check failing.
    gmail_spam_rate: float | None = None
    gmail_recovering: bool | None = None
    gmail_compliance_failing: bool | None = None
    # Microsoft SNDS (IP): the latest filter result, trap hits, whether the IP is blocked.
    snds_filter: SndsFilter | None = None
    snds_trap_hits: int | None = None
    snds_blocked: bool | None = None
    unconfigured: frozenset[FactorName] = frozenset()

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in APPLICABLE:
            raise ValueError(f"kind must be 'ip' or 'domain', not {self.kind!r}")
        rates = {
            "complaint_rate": self.complaint_rate,
            "unsubscribe_rate": self.unsubscribe_rate,
            "unsubscribe_baseline": self.unsubscribe_baseline,
            "bounce_rate": self.bounce_rate,
            "bounce_baseline": self.bounce_baseline,
            "gmail_spam_rate": self.gmail_spam_rate,
        }
        rates |= {f"complaint_rate_daily[{i}]": r for i, r in enumerate(self.complaint_rate_daily)}
        for name, rate in rates.items():
            if rate is not None and not 0.0 <= rate <= 1.0:  # also refuses NaN
                problems.append(f"{name} must be a fraction in 0..1 or None, not {rate!r}")
        if self.snds_trap_hits is not None and self.snds_trap_hits < 0:
            problems.append("snds_trap_hits must be a count, not negative")
        failures, audited = self.one_click_failures, self.one_click_audited
        if (failures is None) != (audited is None):
            problems.append("one_click_failures and one_click_audited go together")
        elif failures is not None and audited is not None and not 0 <= failures <= audited:
            problems.append("one-click counts must satisfy 0 <= failures <= audited")
        for factor, fields in _INPUT_FIELDS.items():
            given = [f for f in fields if getattr(self, f) not in (None, ())]
            if factor not in APPLICABLE[self.kind]:
                problems += [f"{f} does not apply to a target of kind {self.kind}" for f in given]
            elif factor in self.unconfigured:
                problems += [f"{f} is given for {factor}, which is unconfigured" for f in given]
        if stray := self.unconfigured - _CONFIGURABLE:
            names = ", ".join(sorted(stray))
            problems.append(f"only {', '.join(sorted(_CONFIGURABLE))} can be unconfigured: {names}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One factor's contribution; ``code`` is ``<name>.<state>`` from ``FACTOR_STATES``."""

    name: FactorName
    points: int
    code: str
    zones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskScore:
    """The score, its level, every factor (in ``FACTORS`` order) and the unknown ones."""

    target: str
    score: int
    level: RiskLevel
    factors: tuple[RiskFactor, ...]
    unknown: tuple[FactorName, ...]

    def factor(self, name: FactorName | str) -> RiskFactor:
        """The factor called ``name``. Raises KeyError for a name outside ``FACTORS``."""
        for factor in self.factors:
            if factor.name == name:
                return factor
        raise KeyError(name)

    def value(self, name: FactorName | str) -> float:
        """The factor's points for a metric: NaN when it is unknown and showed nothing bad."""
        factor = self.factor(name)
        if factor.points == 0 and factor.name in self.unknown:
            return math.nan
        return float(factor.points)


def level_for(score: int) -> RiskLevel:
    """The level a score falls in. Raises ValueError outside 0..100."""
    if not 0 <= score <= MAX_SCORE:
        raise ValueError(f"a risk score is 0..{MAX_SCORE}, not {score}")
    if score >= LEVEL_CRITICAL_AT:
        return RiskLevel.CRITICAL
    if score >= LEVEL_HIGH_AT:
        return RiskLevel.HIGH
    if score >= LEVEL_ELEVATED_AT:
        return RiskLevel.ELEVATED
    return RiskLevel.OK


def score_risk(inputs: RiskInputs) -> RiskScore:
    """Score one target: the capped sum of its factors' points, unknown factors adding none."""
    parts = (
        _listing_parts(inputs.listings, inputs.unknown_zones)
        if inputs.lists_apply
        else {name: _Part(0, "not_applicable") for name in _LISTING_BASE}
    )
    parts[FactorName.COMPLAINT_RATE] = _complaint_rate(inputs.complaint_rate)
    parts[FactorName.COMPLAINT_TREND] = _complaint_trend(inputs.complaint_rate_daily)
    parts[FactorName.UNSUBSCRIBE_SPIKE] = _spike(
        inputs.unsubscribe_rate,
        inputs.unsubscribe_baseline,
        UNSUBSCRIBE_BASELINE_FLOOR,
        UNSUBSCRIBE_SPIKE_MAX_POINTS,
    )
    parts[FactorName.BOUNCE_SPIKE] = _spike(
        inputs.bounce_rate, inputs.bounce_baseline, BOUNCE_BASELINE_FLOOR, BOUNCE_SPIKE_MAX_POINTS
    )
    parts[FactorName.SPF_OWN_IP_FAIL] = _flag(
        inputs.spf_own_ip_fail, SPF_OWN_IP_FAIL_POINTS, "fail", "pass"
    )
    parts[FactorName.DMARC_WEAK] = _dmarc(inputs.dmarc_policy)
    parts[FactorName.DKIM_WEAK] = _dkim(inputs.dkim)
    no_fcrdns = None if inputs.fcrdns is None else not inputs.fcrdns
    parts[FactorName.FCRDNS_MISSING] = _flag(no_fcrdns, FCRDNS_MISSING_POINTS, "missing", "ok")
    parts[FactorName.ONE_CLICK_FAILING] = _one_click(
        inputs.one_click_failures, inputs.one_click_audited
    )
    parts |= _telemetry_parts(inputs)
    applicable = APPLICABLE[inputs.kind]
    factors: list[RiskFactor] = []
    unknown: list[FactorName] = []
    for name in FACTORS:
        inapplicable = name not in applicable or name in inputs.unconfigured
        part = _Part(0, "not_applicable") if inapplicable else parts[name]
        if part.unknown or part.state == "unknown":
            unknown.append(name)
        factors.append(RiskFactor(name, part.points, f"{name}.{part.state}", part.zones))
    score = min(MAX_SCORE, sum(f.points for f in factors))
    return RiskScore(inputs.target, score, level_for(score), tuple(factors), tuple(unknown))


@dataclass(frozen=True, slots=True)
class _Part:
    """One factor's points and state; ``unknown`` marks a listing count that is a lower bound."""

    points: int
    state: str
    zones: tuple[str, ...] = ()
    unknown: bool = False


_SEVERITY_FACTOR: Mapping[Severity, FactorName] = MappingProxyType(
    {
        Severity.CRITICAL: FactorName.LISTING_CRITICAL,
        Severity.MAJOR: FactorName.LISTING_MAJOR,
        Severity.MINOR: FactorName.LISTING_MINOR,
        Severity.INFO: FactorName.LISTING_INFO,
    }
)
_LISTING_BASE: Mapping[FactorName, int] = MappingProxyType(
    {
        **{f: LISTING_POINTS[s] for s, f in _SEVERITY_FACTOR.items()},
        FactorName.EARLY_WARNING: EARLY_WARNING_POINTS,
    }
)


def _bucket(zone: Listing) -> FactorName:
    """Early-warning zones count in early_warning, except that critical always counts as such."""
    if zone.early_warning and zone.severity is not Severity.CRITICAL:
        return FactorName.EARLY_WARNING
    return _SEVERITY_FACTOR[zone.severity]


def _listing_parts(
    listings: tuple[Listing, ...] | None, unknown_zones: tuple[Listing, ...]
) -> dict[FactorName, _Part]:
    if listings is None:
        return {name: _Part(0, "unknown") for name in _LISTING_BASE}
    parts = {}
    for name, base in _LISTING_BASE.items():
        zones = tuple(sorted({z.zone for z in listings if _bucket(z) is name}))
        some_unknown = any(_bucket(z) is name for z in unknown_zones)
        if not zones:
            parts[name] = _Part(0, "unknown" if some_unknown else "clear")
            continue
        points = _half_up(base * (1 + LISTING_EXTRA_SHARE * (len(zones) - 1)))
        parts[name] = _Part(min(MAX_SCORE, points), "listed", zones, some_unknown)
    return parts


def _complaint_rate(rate: float | None) -> _Part:
    if rate is None:
        return _Part(0, "unknown")
    state = (
        "critical"
        if rate >= COMPLAINT_CRITICAL_RATE
        else "warn"
        if rate >= COMPLAINT_WARN_RATE
        else "below_warn"
    )
    return _Part(_half_up(_interpolate(rate, COMPLAINT_CURVE)), state)


def _interpolate(x: float, curve: Sequence[tuple[float, int]]) -> float:
    """Piecewise-linear through ``curve``, flat before its first and after its last point."""
    if x <= curve[0][0]:
        return curve[0][1]
    for (x0, y0), (x1, y1) in pairwise(curve):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return curve[-1][1]


def _complaint_trend(series: tuple[float | None, ...]) -> _Part:
    days = [(x, y) for x, y in enumerate(series[-TREND_WINDOW_DAYS:]) if y is not None]
    if len(days) < TREND_MIN_DAYS:
        return _Part(0, "unknown")
    mean_x = sum(x for x, _ in days) / len(days)
    mean_y = sum(y for _, y in days) / len(days)
    spread = sum((x - mean_x) ** 2 for x, _ in days)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in days) / spread
    points = _half_up(TREND_MAX_POINTS * _clamp(slope / TREND_FULL_SLOPE))
    return _Part(points, "rising" if points else "flat")


def _spike(now: float | None, baseline: float | None, floor: float, max_points: int) -> _Part:
    if now is None or baseline is None:
        return _Part(0, "unknown")
    ratio = now / max(baseline, floor)
    share = _clamp((ratio - SPIKE_START_RATIO) / (SPIKE_FULL_RATIO - SPIKE_START_RATIO))
    points = _half_up(max_points * share)
    return _Part(points, "spike" if points else "normal")


def _flag(bad: bool | None, points: int, bad_state: str, good_state: str) -> _Part:
    if bad is None:
        return _Part(0, "unknown")
    return _Part(points, bad_state) if bad else _Part(0, good_state)


def _dmarc(policy: DmarcPolicy | None) -> _Part:
    if policy is None:
        return _Part(0, "unknown")
    if policy == "missing":
        return _Part(DMARC_MISSING_POINTS, "missing")
    if policy == "none":
        return _Part(DMARC_NONE_POINTS, "p_none")
    return _Part(0, "enforced")


def _dkim(state: DkimState | None) -> _Part:
    if state is None:
        return _Part(0, "unknown")
    points = {
        "missing": DKIM_MISSING_POINTS,
        "revoked": DKIM_MISSING_POINTS,
        "weak": DKIM_WEAK_POINTS,
    }
    return _Part(points.get(state, 0), state)


def _one_click(failures: int | None, audited: int | None) -> _Part:
    if failures is None or not audited:
        return _Part(0, "unknown")
    if failures == 0:
        return _Part(0, "ok")
    span = ONE_CLICK_MAX_POINTS - ONE_CLICK_MIN_POINTS
    return _Part(_half_up(ONE_CLICK_MIN_POINTS + span * failures / audited), "failing")


_UNTRACKED = _Part(0, "not_applicable")
# The receiver-telemetry factors: "not_applicable" while their source does not cover the target.
TELEMETRY_FACTORS = frozenset(
    {
        FactorName.GMAIL_SPAM_RATE,
        FactorName.GMAIL_COMPLIANCE,
        FactorName.SNDS_FILTER,
        FactorName.SNDS_TRAP_HITS,
        FactorName.SNDS_BLOCKED,
    }
)


def _telemetry_parts(inputs: RiskInputs) -> dict[FactorName, _Part]:
    gmail, snds = inputs.gmail_tracked, inputs.snds_tracked
    traps = None if inputs.snds_trap_hits is None else inputs.snds_trap_hits > 0
    return {
        FactorName.GMAIL_SPAM_RATE: _gmail_spam(inputs.gmail_spam_rate, inputs.gmail_recovering)
        if gmail
        else _UNTRACKED,
        FactorName.GMAIL_COMPLIANCE: _flag(
            inputs.gmail_compliance_failing, GMAIL_COMPLIANCE_POINTS, "needs_work", "compliant"
        )
        if gmail
        else _UNTRACKED,
        FactorName.SNDS_FILTER: _snds_filter(inputs.snds_filter) if snds else _UNTRACKED,
        FactorName.SNDS_TRAP_HITS: _flag(traps, SNDS_TRAP_HITS_POINTS, "hits", "none")
        if snds
        else _UNTRACKED,
        FactorName.SNDS_BLOCKED: _flag(
            inputs.snds_blocked, SNDS_BLOCKED_POINTS, "blocked", "not_blocked"
        )
        if snds
        else _UNTRACKED,
    }


def _gmail_spam(rate: float | None, recovering: bool | None) -> _Part:
    """Gmail's own thresholds; below 0.3% but within the recovery window is still high."""
    if rate is None:
        return _Part(0, "unknown")
    if rate >= GMAIL_SPAM_CRITICAL_RATE:
        return _Part(GMAIL_SPAM_CRITICAL_POINTS, "critical")
    if recovering:
        return _Part(GMAIL_SPAM_CRITICAL_POINTS, "recovering")
    if rate >= GMAIL_SPAM_WARN_RATE:
        return _Part(GMAIL_SPAM_WARN_POINTS, "warn")
    return _Part(0, "below_warn")


def _snds_filter(result: SndsFilter | None) -> _Part:
    if result is None:
        return _Part(0, "unknown")
    points = {"red": SNDS_RED_POINTS, "yellow": SNDS_YELLOW_POINTS}
    return _Part(points.get(result, 0), result)


def _clamp(share: float) -> float:
    return min(1.0, max(0.0, share))


def _half_up(points: float) -> int:
    """Round to the nearest integer, halves up (``round`` would send 62.5 to 62)."""
    return math.floor(points + 0.5)
