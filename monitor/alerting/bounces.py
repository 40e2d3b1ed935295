"""Alerts from the bounce findings (``checks/bounces/findings.py``, pure).

=============================  =============================================  ==================
kind                           key                                            severity
=============================  =============================================  ==================
bounce_blocklist_cited         ``bounce_blocklist_cited:<provider>:<list>``   critical
bounce_reputation_ratelimit    ``bounce_reputation_ratelimit:<provider>``     warning
bounce_dmarc_rejected          ``bounce_dmarc_rejected:<provider>``           critical
bounce_hard_bounce_rate        ``bounce_hard_bounce_rate:<campaign>``         warning
=============================  =============================================  ==================

A finding over ``[bounces] window`` is an active observation. A firing alert whose
finding is gone observes clear (the window passed, or the count or rate fell below its
line), except a hard-bounce rate whose campaign still sends but below ``[feedback]
min_volume``: that is "could not tell" (``active`` None), never clear. The findings
are counts of replies the daemon received, so a first observation is news, not a
pre-existing state: the caller applies them with ``baseline_allowed=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from checks.findings import FINDING_CODES, Finding, FindingSeverity
from monitor.model.alerts import AlertKind, AlertRecord, Observation, Severity

__all__ = ["BOUNCE_KINDS", "bounce_observations"]

_KINDS: dict[str, AlertKind] = {
    "bounce.blocklist_cited": AlertKind.BOUNCE_BLOCKLIST_CITED,
    "bounce.reputation_ratelimit": AlertKind.BOUNCE_REPUTATION_RATELIMIT,
    "bounce.dmarc_rejected": AlertKind.BOUNCE_DMARC_REJECTED,
    "bounce.hard_bounce_rate": AlertKind.BOUNCE_HARD_BOUNCE_RATE,
}
BOUNCE_KINDS: tuple[AlertKind, ...] = tuple(_KINDS.values())

_SEVERITY = {
    FindingSeverity.CRITICAL: Severity.CRITICAL,
    FindingSeverity.ERROR: Severity.CRITICAL,
    FindingSeverity.WARNING: Severity.WARNING,
    FindingSeverity.INFO: Severity.INFO,
}

_CLEARED = {
    AlertKind.BOUNCE_BLOCKLIST_CITED: "No refusal by {provider} citing {blocklist} in the last {w}",
    AlertKind.BOUNCE_REPUTATION_RATELIMIT: "Reputation rate limiting at {provider} below the "
    "line in the last {w}",
    AlertKind.BOUNCE_DMARC_REJECTED: "DMARC rejections at {provider} below the line in the "
    "last {w}",
    AlertKind.BOUNCE_HARD_BOUNCE_RATE: "Hard-bounce rate of campaign {campaign} below the line "
    "in the last {w}",
}


def _labels(finding: Finding) -> dict[str, str]:
    d = finding.detail
    if finding.code == "bounce.hard_bounce_rate":
        return {"campaign": str(d["campaign"])}
    labels = {"provider": str(d["provider"])}
    if finding.code == "bounce.blocklist_cited":
        labels["blocklist"] = str(d["blocklist"])
    return labels


def _key(kind: AlertKind, labels: Mapping[str, str]) -> str:
    parts = [labels[k] for k in ("campaign", "provider", "blocklist") if k in labels]
    return ":".join((kind.value, *parts))


def _resolved_title(kind: AlertKind, labels: Mapping[str, str], window: str) -> str:
    return _CLEARED[kind].format(
        provider=labels.get("provider", ""),
        blocklist=labels.get("blocklist", ""),
        campaign=labels.get("campaign", ""),
        w=window,
    )


def bounce_observations(
    findings: Iterable[Finding],
    firing: Sequence[AlertRecord],
    *,
    attempts: Mapping[str, int],
    min_volume: int,
    window: str,
) -> list[Observation]:
    """Active observations for ``findings``, and clear (or unknown) ones for the
    ``firing`` bounce alerts no finding holds up any more.

    ``attempts``: per campaign id, the delivery attempts in the window (the
    hard-bounce rate's denominator).
    """
    found: list[Observation] = []
    for finding in findings:
        kind = _KINDS.get(finding.code)
        if kind is None:
            continue
        labels = _labels(finding)
        found.append(
            Observation(
                key=_key(kind, labels),
                kind=kind,
                active=True,
                severity=_SEVERITY[finding.severity],
                labels=labels,
                title=finding.message,
                text=FINDING_CODES[finding.code].fix,
                resolved_title=_resolved_title(kind, labels, window),
            )
        )
    seen = {o.key for o in found}
    for record in firing:
        if record.kind not in BOUNCE_KINDS or record.key in seen:
            continue
        active: bool | None = False
        if record.kind is AlertKind.BOUNCE_HARD_BOUNCE_RATE:
            n = attempts.get(record.labels.get("campaign", ""), 0)
            active = None if 0 < n < min_volume else False
        found.append(record.observed(active, _resolved_title(record.kind, record.labels, window)))
    return found
