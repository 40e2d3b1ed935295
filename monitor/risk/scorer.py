"""The blacklist-risk score of every target of this replica, kept between job runs.

``refresh`` scores each target from the state cache's snapshot and the campaign figures
(no I/O); the metrics read ``snapshot()``; ``observations`` are the risk alerts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from checks.dnsbl.sweep import applicable_zones
from monitor.alerting.rules import RISK_LEVELS, risk_observation
from monitor.checking.cache import StateSnapshot
from monitor.checking.plans import Plan
from monitor.checking.states import CheckName, CheckState
from monitor.model.alerts import Observation
from monitor.risk.inputs import DomainFigures, build_risk_inputs, sending_spf_results
from monitor.risk.score import FactorName, score_risk
from monitor.telemetry.views import TelemetryView

__all__ = ["RiskScorer", "RiskView", "alert_level"]

# The checks a risk score needs before it may alert (an incomplete score is unknown).
_RISK_NEEDS = {
    "ip": frozenset({CheckName.DNSBL, CheckName.PTR}),
    "domain": frozenset({CheckName.DNSBL, CheckName.SPF, CheckName.DMARC}),
}
_LISTING_FACTORS = frozenset(
    {"listing_critical", "listing_major", "listing_minor", "listing_info", "early_warning"}
)
# Factors read from a DNS check of the target: unknown when that check could not answer
# (a timeout, SERVFAIL), not because of low volume as the rate factors are, so one of them
# unknown makes the score a lower bound (``RiskView.lower_bound``). Each applies unless the
# configuration gives it nothing to evaluate (``_unconfigured``): then it is not_applicable.
_CHECK_FACTORS = frozenset({"spf_own_ip_fail", "dmarc_weak", "dkim_weak", "fcrdns_missing"})


@dataclass(frozen=True, slots=True)
class RiskView:
    """``complete``: every check the score draws on has run at least once for the target."""

    score: int
    level: str
    factors: Mapping[str, float]
    complete: bool = True
    unknown_factors: int = 0
    unknown_listing: bool = False  # a zone that could list the target could not tell
    unknown: tuple[str, ...] = ()  # the unknown factors' names (len: unknown_factors)
    details: tuple[tuple[str, int, str], ...] = ()  # each factor: name, points, state code
    # When the latest of the target's own checks ran (a sweep, an auth run): a clear
    # observation counts toward resolving its alert once per such run.
    checked_at: dt.datetime | None = None

    @property
    def unknown_checks(self) -> tuple[str, ...]:
        """The DNS-check factors (SPF, DMARC, DKIM, FCrDNS) whose check cannot tell now."""
        return tuple(f for f in self.unknown if f in _CHECK_FACTORS)

    @property
    def lower_bound(self) -> bool:
        """The score may be below the target's risk because a check could not tell: a
        list that could list the target, or one of ``unknown_checks``."""
        return self.unknown_listing or bool(self.unknown_checks)


class RiskScorer:
    """Owns the latest score of each target; built once by the composition root."""

    def __init__(self) -> None:
        self._risk: Mapping[str, RiskView] = MappingProxyType({})
        # Per target, the checked_at of the last clear observation given (see observations).
        self._cleared: dict[str, dt.datetime | None] = {}

    def snapshot(self) -> Mapping[str, RiskView]:
        return self._risk

    def refresh(
        self,
        plan: Plan,
        states: StateSnapshot,
        figures: Mapping[str, DomainFigures],
        telemetry: TelemetryView | None = None,
        foreign_spf: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        """Score every target of ``plan`` from ``states`` and ``telemetry`` (no I/O).

        ``foreign_spf``: the SPF ``ip_results`` of domains another replica checks that
        list an IP this one scores (read from the store by the caller), so an IP's SPF
        factor does not depend on which replica its domain hashes to."""
        view = telemetry or TelemetryView()
        zones = plan.zone_by_id()
        by_target: dict[str, list[CheckState]] = {}
        for state in states.states.values():
            by_target.setdefault(state.target, []).append(state)
        spf_results: dict[str, Mapping[str, object]] = {}  # domain -> ip_results, read once
        for name, config in plan.all_domains.items():
            found = sending_spf_results(
                by_target.get(name, []), envelopes=bool(config.envelope_domains)
            )
            if found is not None:
                spf_results[name] = found
        for domain, results in (foreign_spf or {}).items():
            spf_results.setdefault(domain, results)
        risk: dict[str, RiskView] = {}
        for target in plan.targets:
            kind = target.kind.value
            own = by_target.get(target.text, [])
            scored = score_risk(
                build_risk_inputs(
                    target.text,
                    kind,
                    own,
                    zones=zones,
                    figures=figures.get(target.text),
                    spf_results=[
                        spf_results[d]
                        for d in plan.sending_domains.get(target.text, ())
                        if d in spf_results
                    ],
                    envelopes=target.text in plan.all_domains
                    and bool(plan.all_domains[target.text].envelope_domains),
                    telemetry=view,
                    lists_apply=bool(applicable_zones(target, plan.zones)),
                    unconfigured=_unconfigured(plan, target.text),
                )
            )
            swept = bool(applicable_zones(target, plan.zones))  # else no sweep ever covers it
            needed = _RISK_NEEDS[kind] - (frozenset() if swept else {CheckName.DNSBL})
            risk[target.text] = RiskView(
                scored.score,
                scored.level.value,
                {f.value: scored.value(f) for f in (x.name for x in scored.factors)},
                complete=needed <= {s.check for s in own},
                unknown_factors=len(scored.unknown),
                unknown_listing=any(f.value in _LISTING_FACTORS for f in scored.unknown),
                unknown=tuple(f.value for f in scored.unknown),
                details=tuple((f.name.value, f.points, f.code) for f in scored.factors),
                checked_at=max((s.checked_at for s in own), default=None),
            )
        self._risk = MappingProxyType(risk)

    def observations(self, threshold: str) -> list[Observation]:
        """One risk-level alert observation per target (unknown when it cannot be told).

        The targets are scored on every ``campaigns`` run (every 30 s), their checks run
        far less often (a sweep every 15 minutes): a clear score is given as clear once
        per run of the target's checks, and as "no news" (unknown) until the next, so
        ``[alerts] resolve_after`` counts clear checks, as for the other alerts, not
        re-scorings of one check's answer (one clean sweep resolved a risk alert)."""
        found = []
        for target, risk in self._risk.items():
            obs = risk_observation(
                target,
                risk.score,
                alert_level(risk, threshold),
                threshold,
                lower_bound=risk.lower_bound,
                unchecked=not risk.complete,
            )
            if obs.active is False:
                if target in self._cleared and self._cleared[target] == risk.checked_at:
                    obs = dataclasses.replace(obs, active=None)
                else:
                    self._cleared[target] = risk.checked_at
            elif obs.active:
                self._cleared.pop(target, None)  # the next clear one counts, whatever ran
            found.append(obs)
        return found


def _unconfigured(plan: Plan, target: str) -> frozenset[FactorName]:
    """A domain's factors its ``[[domains]]`` entry gives nothing to evaluate: SPF for
    its own IPs without ``sending_ips``, DKIM without ``dkim_selectors``."""
    domain = plan.all_domains.get(target)
    if domain is None:
        return frozenset()  # an IP: it is a target because a domain lists it
    return frozenset(
        name
        for name, configured in (
            (FactorName.SPF_OWN_IP_FAIL, domain.sending_ips),
            (FactorName.DKIM_WEAK, domain.selectors),
        )
        if not configured
    )


def alert_level(risk: RiskView, threshold: str) -> str | None:
    """The level to alert on, or None (unknown) when it cannot be told.

    Before every needed check has run, or when the score is a lower bound (a zone that
    could list the target, or a DNS check the score draws on, cannot tell) and the known
    part is below the threshold: a lower bound must not read as all clear.
    """
    if not risk.complete:
        return None
    below = RISK_LEVELS.index(risk.level) < RISK_LEVELS.index(threshold)
    if below and risk.lower_bound:
        return None
    return risk.level
