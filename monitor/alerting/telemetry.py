"""Alerts from receiver telemetry: Gmail's spam rate and compliance, SNDS verdicts (pure).

=======================  ===============================  ======================================
kind                     key                              active when
=======================  ===============================  ======================================
gmail_spam_rate          ``gmail_spam_rate:<domain>``     rate >= 0.1 % (critical from 0.3 %,
                                                          and while the 7-day clock runs)
gmail_compliance         ``gmail_compliance:<domain>``    a requirement NEEDS_WORK
snds_filter              ``snds_filter:<ip>``             YELLOW (warning) or RED (critical)
snds_trap_hits           ``snds_trap_hits:<ip>``          trap hits in the latest period
snds_blocked             ``snds_blocked:<ip>``            a blocked range covers the IP
=======================  ===============================  ======================================

A failed import observes "unknown" (``active`` None): it neither fires nor resolves, so
an outage never reads as recovery.
"""

from __future__ import annotations

from monitor.model.alerts import AlertKind, Observation, Severity
from monitor.model.telemetry import GMAIL_SPAM_CRITICAL_RATE, GMAIL_SPAM_WARN_RATE, GmailState
from monitor.telemetry.views import GmailDomainView, SndsIpView, TelemetryView

__all__ = ["telemetry_observations"]

_CURRENT = frozenset({GmailState.OK, GmailState.NO_DATA})


def telemetry_observations(view: TelemetryView) -> list[Observation]:
    found = []
    for domain in sorted(view.gmail_tracked):
        found += _gmail(view.gmail[domain])
    if view.snds_tracked:
        for ip in sorted(view.snds):
            found += _snds(view.snds[ip], view)
    return found


def _gmail(d: GmailDomainView) -> list[Observation]:
    current = d.state in _CURRENT
    rate = d.spam_rate
    high = rate is not None and (rate >= GMAIL_SPAM_CRITICAL_RATE or d.recovery_date is not None)
    active = None if not current or rate is None else rate >= GMAIL_SPAM_WARN_RATE or high
    until = f"; Gmail mitigates again from {d.recovery_date}" if d.recovery_date else ""
    shown = f"{rate:.2%}" if rate is not None else "unknown"
    failing = sorted(r for r, s in d.compliance.items() if s == "needs_work")
    return [
        Observation(
            key=f"gmail_spam_rate:{d.domain}",
            kind=AlertKind.GMAIL_SPAM_RATE,
            active=active,
            severity=Severity.CRITICAL if high else Severity.WARNING,
            labels={"domain": d.domain},
            title=f"Gmail spam rate of {d.domain} is {shown} ({d.spam_rate_day})",
            text=(
                "Gmail Postmaster Tools' user-reported spam rate; Gmail asks for below 0.1% "
                f"and never 0.3%{until}."
            ),
            resolved_title=f"Gmail spam rate of {d.domain} is below 0.1% ({shown})",
        ),
        Observation(
            key=f"gmail_compliance:{d.domain}",
            kind=AlertKind.GMAIL_COMPLIANCE,
            active=d.compliance_failing if current else None,
            severity=Severity.WARNING,
            labels={"domain": d.domain},
            title=f"Gmail compliance of {d.domain}: {', '.join(failing) or 'none'} need work",
            text="Gmail Postmaster Tools' compliance status (sender requirements).",
            resolved_title=f"Gmail compliance of {d.domain}: every requirement met",
        ),
    ]


def _snds(ip: SndsIpView, view: TelemetryView) -> list[Observation]:
    data = bool(view.snds_data_up)
    result = ip.filter_result.value if ip.filter_result else None
    filtered = None if not data or result is None else result in ("yellow", "red")
    traps = None if not data or ip.trap_hits is None else ip.trap_hits > 0
    blocked = ip.blocked if view.snds_blocks_up else None
    labels = {"ip": ip.ip}
    return [
        Observation(
            key=f"snds_filter:{ip.ip}",
            kind=AlertKind.SNDS_FILTER,
            active=filtered,
            severity=Severity.CRITICAL if result == "red" else Severity.WARNING,
            labels=labels,
            title=f"SNDS filter result of {ip.ip} is {(result or 'unknown').upper()}",
            text="Microsoft SNDS: the share of the IP's mail Outlook.com filtered as spam "
            "(YELLOW 10-90%, RED over 90%).",
            resolved_title=f"SNDS filter result of {ip.ip} is GREEN again",
        ),
        Observation(
            key=f"snds_trap_hits:{ip.ip}",
            kind=AlertKind.SNDS_TRAP_HITS,
            active=traps,
            severity=Severity.WARNING,
            labels=labels,
            title=f"{ip.ip} hit {ip.trap_hits} Outlook.com spam traps (SNDS)",
            text="Spam traps are addresses that never opted in: clean the lists.",
            resolved_title=f"No SNDS trap hits for {ip.ip} in the latest period",
        ),
        Observation(
            key=f"snds_blocked:{ip.ip}",
            kind=AlertKind.SNDS_BLOCKED,
            active=blocked,
            severity=Severity.CRITICAL,
            labels=labels,
            title=f"{ip.ip} is blocked by Outlook.com (SNDS)",
            text=f"SNDS IP status: {ip.block_reason or 'blocked'}.",
            resolved_title=f"{ip.ip} is no longer blocked by Outlook.com (SNDS)",
        ),
    ]
