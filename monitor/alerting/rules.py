"""What each alert watches: observations built from check states, risk and campaign rates.

Pure: no I/O. Alert keys are stable strings (``kind:subject...``); labels are
bounded (targets, zones, checks, campaigns; never an address or a TXT reason).

=======================  ===========================================  ==============
kind                     key                                          active when
=======================  ===========================================  ==============
listed                   ``listed:<target>:<zone>``                   the list lists it
zone_unhealthy           ``zone_unhealthy:<zone>:<family>``           self-test fails
resolver_refused         ``resolver_refused:<zone>``                  list refuses us
record_broken            ``record_broken:<check>:<target>:<item>``    status is fail
record_changed           ``record_changed:<check>:<target>:<item>``   (announced once)
risk_level               ``risk_level:<target>``                      level >= setting
complaint_rate           ``complaint_rate:<campaign>``                rate >= warning
unsubscribe_deadline     ``unsubscribe_deadline:<campaign>``          violations > 0
=======================  ===========================================  ==============
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from checks.dnsbl import ZoneSpec
from monitor.checking.states import RESOLVER_REFUSED_ERRORS, CheckName, CheckState, StateChange
from monitor.checking.table import CHECKS
from monitor.model.alerts import AlertKind, Observation, Severity

__all__ = [
    "RECORD_CHECKS",
    "RISK_LEVELS",
    "CampaignRates",
    "campaign_observations",
    "dnsbl_observations",
    "record_change_key",
    "record_change_observation",
    "record_change_observations",
    "record_observations",
    "risk_observation",
    "zone_observations",
]

RISK_LEVELS = ("ok", "elevated", "high", "critical")
_LISTING_SEVERITY = {
    "critical": Severity.CRITICAL,
    "major": Severity.CRITICAL,
    "minor": Severity.WARNING,
    "info": Severity.INFO,
}
# The checks whose failure is a record_broken alert, with its severity (the check table's).
_RECORD_SEVERITY = {s.name: s.alert for s in CHECKS if s.alert is not None}


def _active(state: CheckState, bad: str) -> bool | None:
    return None if state.status == "unknown" else state.status == bad


def dnsbl_observations(
    states: Iterable[CheckState], zones: Mapping[str, ZoneSpec]
) -> list[Observation]:
    """One ``listed`` observation per (target, zone); unknown results are unknown."""
    found = []
    for state in states:
        if state.check is not CheckName.DNSBL:
            continue
        spec = zones.get(state.item)
        severity = state.severity or (spec.severity.value if spec else "major")
        detail = state.detail_dict()
        meanings = detail.get("meanings")
        lines = [f"Zone: {state.item} (severity {severity})"]
        if isinstance(meanings, list) and meanings:
            lines.append("Meaning: " + "; ".join(str(m) for m in meanings))
        codes = detail.get("codes")
        if isinstance(codes, list) and codes:
            lines.append("Return codes: " + ", ".join(str(c) for c in codes))
        if spec is not None and spec.delist_url:
            lines.append(f"Delisting: {spec.delist_url}")
        found.append(
            Observation(
                key=f"listed:{state.target}:{state.item}",
                kind=AlertKind.LISTED,
                active=_active(state, "listed"),
                severity=_LISTING_SEVERITY.get(severity, Severity.WARNING),
                labels={"target": state.target, "zone": state.item, "severity": severity},
                title=f"{state.target} is listed on {state.item}",
                text="\n".join(lines),
                resolved_title=f"{state.target} is no longer listed on {state.item} (delisted)",
            )
        )
    return found


def zone_observations(
    health: Iterable[CheckState], dnsbl: Iterable[CheckState]
) -> list[Observation]:
    """Zone self-tests, and lists that refuse our resolver (from a sweep's error codes, or
    a self-test's)."""
    health = list(health)
    found = [
        Observation(
            key=f"zone_unhealthy:{state.target}:{state.item}",
            kind=AlertKind.ZONE_UNHEALTHY,
            active=state.status == "unhealthy",
            severity=Severity.WARNING,
            labels={"zone": state.target, "family": state.item},
            title=f"DNSBL zone {state.target} ({state.item}) fails its self-test",
            text=(
                f"Reason: {state.detail_dict().get('reason')}. Results from this zone are reported "
                "as unknown until it answers its test points again."
            ),
            resolved_title=f"DNSBL zone {state.target} ({state.item}) passes its self-test again",
        )
        for state in health
        if state.check is CheckName.ZONE
    ]
    refused: dict[str, bool | None] = {}
    for state in health:
        # Its test points answered with a refusal (Spamhaus's 127.255.255.254 to a public
        # resolver answers every name so): the sweep's results are then zone_unhealthy,
        # and only the self-test shows why.
        if (
            state.check is CheckName.ZONE
            and state.status == "unhealthy"
            and state.detail_dict().get("reason") in RESOLVER_REFUSED_ERRORS
        ):
            refused[state.target] = True
    for state in dnsbl:
        if state.check is not CheckName.DNSBL:
            continue
        error = state.detail_dict().get("error")
        if error in RESOLVER_REFUSED_ERRORS:
            refused[state.item] = True
        elif state.status != "unknown":
            # An answer for any target shows the zone serves us; only a refusal outranks it.
            if refused.get(state.item) is not True:
                refused[state.item] = False
        else:
            refused.setdefault(state.item, None)
    for zone, active in sorted(refused.items()):
        found.append(
            Observation(
                key=f"resolver_refused:{zone}",
                kind=AlertKind.RESOLVER_REFUSED,
                active=active,
                severity=Severity.WARNING,
                labels={"zone": zone},
                title=f"{zone} refuses queries from our resolver",
                text=(
                    "The list answered with an error code meaning the resolver is public, "
                    "unregistered or over its query limit. Use a local, non-forwarding "
                    "resolver ([dns] nameservers) or the list's key (DQS)."
                ),
                resolved_title=f"{zone} answers our resolver again",
            )
        )
    return found


def record_observations(states: Iterable[CheckState]) -> list[Observation]:
    """Authentication and host records whose check fails (error-severity findings)."""
    found = []
    for state in states:
        severity = _RECORD_SEVERITY.get(state.check)
        if severity is None or _own_envelope(state):
            continue
        where = f"{state.check.value}:{state.target}:{state.item}".rstrip(":")
        name = _CHECK_TITLES.get(state.check, state.check.value.upper()) + (
            f" ({state.item})" if state.item else ""
        )
        codes = _finding_codes(state)
        found.append(
            Observation(
                key=f"record_broken:{where}",
                kind=AlertKind.RECORD_BROKEN,
                active=_active(state, "fail"),
                severity=severity,
                labels={"check": state.check.value, "target": state.target, "item": state.item},
                title=f"{name} of {state.target} is failing",
                text="Findings: " + (", ".join(codes) if codes else "none recorded"),
                resolved_title=f"{name} of {state.target} passes again",
            )
        )
    return found


RECORD_CHECKS = frozenset(_RECORD_SEVERITY)


def record_change_key(target: str, check: str, item: str) -> str:
    return f"record_changed:{check}:{target}:{item}".rstrip(":")


def record_change_observation(state: CheckState) -> Observation:
    """A published record that changed; ``state`` is its state now (announced once)."""
    name = _CHECK_TITLES.get(state.check, state.check.value.upper()) + (
        f" ({state.item})" if state.item else ""
    )
    record = state.detail_dict().get("record")
    return Observation(
        key=record_change_key(state.target, state.check.value, state.item),
        kind=AlertKind.RECORD_CHANGED,
        active=True,
        severity=Severity.INFO,
        labels={"check": state.check.value, "target": state.target, "item": state.item},
        title=f"{name} record of {state.target} changed",
        text=f"Status now: {state.status}"
        + (f"\nNow: {record}" if isinstance(record, str) else ""),
    )


def record_change_observations(changes: Iterable[StateChange]) -> list[Observation]:
    """Published records that changed (announced once each, never resolved)."""
    return [
        record_change_observation(change.new)
        for change in changes
        if change.record_changed
        and change.new.check in _RECORD_SEVERITY
        and not _own_envelope(change.new)
    ]


_CHECK_TITLES = {CheckName.ENVELOPE_SPF: "Envelope SPF"}  # else the check's name upper-cased


def _own_envelope(state: CheckState) -> bool:
    """The domain as its own envelope domain: its SPF check's alerts cover it."""
    return state.check is CheckName.ENVELOPE_SPF and state.item == state.target


def _finding_codes(state: CheckState) -> list[str]:
    findings = state.detail_dict().get("findings")
    if not isinstance(findings, list):
        return []
    return [
        str(f["code"])
        for f in findings
        if isinstance(f, dict) and f.get("severity") in ("error", "critical")
    ]


def risk_observation(
    target: str,
    score: int | None,
    level: str | None,
    threshold: str,
    *,
    lower_bound: bool = False,
    unchecked: bool = False,
) -> Observation:
    """Risk level at or above ``threshold`` (elevated, high, critical); None is unknown.
    ``lower_bound``: a check could not tell (``RiskView.lower_bound``), so the level is
    at least ``level``; ``unchecked``: not every check the score reads has run yet."""
    active = None if level is None else RISK_LEVELS.index(level) >= RISK_LEVELS.index(threshold)
    severity = Severity.CRITICAL if level == "critical" else Severity.WARNING
    return Observation(
        key=f"risk_level:{target}",
        kind=AlertKind.RISK_LEVEL,
        active=active,
        severity=severity,
        labels={"target": target, "level": level or "unknown"},
        title=f"Blacklist risk of {target} is {level} ({score}/100)",
        text="See the risk factors in delivermon_blacklist_risk_factor and docs/risk.md.",
        resolved_title=f"Blacklist risk of {target} is back below {threshold}",
        lower_bound=lower_bound,
        unchecked=unchecked and level is None,
        order=("level", RISK_LEVELS),  # elevated to high is news, though both are warnings
    )


@dataclass(frozen=True, slots=True)
class CampaignRates:
    """One campaign's complaint rate (None below the volume guard) and deadline misses."""

    campaign: str
    complaint_rate: float | None
    violations: int


def campaign_observations(
    figures: Iterable[CampaignRates], *, warning: float, critical: float, window: str
) -> list[Observation]:
    found = []
    for f in figures:
        rate = f.complaint_rate
        severity = Severity.CRITICAL if rate is not None and rate >= critical else Severity.WARNING
        found.append(
            Observation(
                key=f"complaint_rate:{f.campaign}",
                kind=AlertKind.COMPLAINT_RATE,
                active=None if rate is None else rate >= warning,
                severity=severity,
                labels={"campaign": f.campaign, "window": window},
                title=(
                    f"Complaint rate of campaign {f.campaign} is {rate:.3%} over {window}"
                    if rate is not None
                    else f"Complaint rate of campaign {f.campaign}"
                ),
                text=(
                    f"Mailbox providers block above {critical:.1%}; the warning line is "
                    f"{warning:.1%} (complaints per delivered message)."
                ),
                resolved_title=f"Complaint rate of campaign {f.campaign} is below {warning:.1%}",
            )
        )
        found.append(
            Observation(
                key=f"unsubscribe_deadline:{f.campaign}",
                kind=AlertKind.UNSUBSCRIBE_DEADLINE,
                active=f.violations > 0,
                severity=Severity.CRITICAL,
                labels={"campaign": f.campaign, "window": window},
                title=(
                    f"Campaign {f.campaign} sent to {f.violations} recipient(s) more than "
                    "48 hours after they opted out"
                ),
                text="Unsubscribes must be honoured within two days (Gmail/Yahoo sender rules).",
                resolved_title=f"Campaign {f.campaign}: no late sends to opted-out recipients",
            )
        )
    return found
