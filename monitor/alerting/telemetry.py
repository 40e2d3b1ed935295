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
snds_unconfigured        ``snds_unconfigured``            an IP of the account that no
                                                          ``sending_ips`` lists is YELLOW, RED,
                                                          hit traps or is blocked (critical
                                                          when one is RED or blocked)
=======================  ===============================  ======================================

The three ``snds_*:<ip>`` kinds are for configured sending IPs only: an SNDS account may
hold a whole network, and an alert per address would bury the ones that matter. The
others are one alert, naming the worst ``UNCONFIGURED_LISTED``.

A failed import observes "unknown" (``active`` None): it neither fires nor resolves, so
an outage never reads as recovery.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from monitor.model.alerts import AlertKind, Observation, Severity
from monitor.model.telemetry import (
    GMAIL_SPAM_CRITICAL_RATE,
    GMAIL_SPAM_WARN_RATE,
    GmailState,
    SndsBlock,
)
from monitor.telemetry.views import GmailDomainView, SndsIpView, TelemetryView

__all__ = [
    "SNDS_IP_KINDS",
    "TELEMETRY_KINDS",
    "UNCONFIGURED_LISTED",
    "telemetry_observations",
    "untracked",
]

_GMAIL_KINDS = frozenset({AlertKind.GMAIL_SPAM_RATE, AlertKind.GMAIL_COMPLIANCE})
SNDS_IP_KINDS = frozenset({AlertKind.SNDS_FILTER, AlertKind.SNDS_TRAP_HITS, AlertKind.SNDS_BLOCKED})
TELEMETRY_KINDS = tuple(
    sorted(_GMAIL_KINDS | SNDS_IP_KINDS | {AlertKind.SNDS_UNCONFIGURED}, key=str)
)

UNCONFIGURED_LISTED = 10  # unconfigured IPs the summary alert names; the rest are counted

_CURRENT = frozenset({GmailState.OK, GmailState.NO_DATA})


def telemetry_observations(view: TelemetryView) -> list[Observation]:
    found = []
    for domain in sorted(view.gmail_tracked):
        found += _gmail(view.gmail[domain])
    if view.snds_tracked:
        others = []
        for ip in sorted(view.snds):
            if view.snds[ip].configured:
                found += _snds(view.snds[ip], view)
            else:
                others.append(view.snds[ip])
        found.append(_snds_unconfigured(others, view))
    return found


def untracked(kind: AlertKind, labels: Mapping[str, str], view: TelemetryView) -> str | None:
    """Why a telemetry alert's subject is no longer watched (None: it is): a Gmail domain
    no longer in ``[telemetry.gmail]``, an IP no ``sending_ips`` lists any more (from
    then on counted in ``snds_unconfigured``), a section removed from the config. ``view``
    must be one loaded for the config in force."""
    if kind in _GMAIL_KINDS:
        domain = labels.get("domain", "")
        return None if domain in view.gmail_tracked else f"{domain} not in [telemetry.gmail]"
    if kind not in SNDS_IP_KINDS and kind is not AlertKind.SNDS_UNCONFIGURED:
        return None
    if not view.snds_tracked:
        return "[telemetry.snds] removed from the config"
    if kind is AlertKind.SNDS_UNCONFIGURED:
        return None
    ip = labels.get("ip", "")
    seen = view.snds.get(ip)
    if seen is not None and seen.configured:
        return None
    return f"{ip} is in no sending_ips (counted in the snds_unconfigured alert)"


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


def _size(block: SndsBlock) -> int:
    first, last = ipaddress.ip_address(block.first_ip), ipaddress.ip_address(block.last_ip)
    return int(last) - int(first) + 1


def _snds_unconfigured(others: list[SndsIpView], view: TelemetryView) -> Observation:
    """One observation for the IPs of the account that are no configured sending IP."""
    data, blocks = bool(view.snds_data_up), bool(view.snds_blocks_up)
    states: list[tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address, str, str]] = []
    counts = {"red": 0, "yellow": 0, "traps": 0, "blocked": 0}
    for ip in others:
        said = []
        rank = 3
        result = ip.filter_result.value if data and ip.filter_result else None
        if blocks and ip.blocked:
            counts["blocked"] += 1
            said.append("blocked")
            rank = 0
        if result in ("red", "yellow"):
            counts[result] += 1
            said.insert(0, result.upper())
            rank = min(rank, 0 if result == "red" else 1)
        if data and ip.trap_hits:
            counts["traps"] += 1
            said.append(f"{ip.trap_hits} trap hits")
            rank = min(rank, 2)
        if said:
            states.append((rank, ipaddress.ip_address(ip.ip), ip.ip, ", ".join(said)))
    states.sort(key=lambda s: (s[0], s[1].version, s[1]))
    # Blocked ranges covering no IP with traffic rows (a blocked address often has none):
    # after the blocked IPs, before the rest.
    ranges = list(view.snds_unlisted_blocks) if blocks else []
    addresses = sum(_size(r) for r in ranges)
    named_ranges = [
        (f"{r.first_ip}-{r.last_ip}", f"blocked range, {_size(r)} addresses") for r in ranges
    ]
    shown = [(ip, said) for rank, _a, ip, said in states if rank == 0]
    shown += named_ranges
    shown += [(ip, said) for rank, _a, ip, said in states if rank > 0]
    if shown:
        active: bool | None = True
    else:
        active = False if data and blocks else None
    parts = [
        f"{counts['red']} RED" if counts["red"] else "",
        f"{counts['yellow']} YELLOW" if counts["yellow"] else "",
        f"{counts['traps']} with trap hits" if counts["traps"] else "",
        f"{counts['blocked']} blocked" if counts["blocked"] else "",
        f"{addresses} addresses blocked without traffic rows" if ranges else "",
    ]
    named = ", ".join(f"{ip} ({said})" for ip, said in shown[:UNCONFIGURED_LISTED])
    more = len(shown) - UNCONFIGURED_LISTED
    listed = f"{named} and {more} more." if more > 0 else f"{named}."
    n = len(states)
    things = [f"{n} IP{'s' if n != 1 else ''}"] if n or not ranges else []
    if ranges:
        things.append(f"{len(ranges)} blocked range{'s' if len(ranges) != 1 else ''}")
    subject = " and ".join(things)
    one = len(things) == 1 and (n == 1 or (not n and len(ranges) == 1))
    critical = counts["red"] or counts["blocked"] or ranges
    return Observation(
        key="snds_unconfigured",
        kind=AlertKind.SNDS_UNCONFIGURED,
        active=active,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        title=(
            f"SNDS: {subject} of the account that no sending_ips lists "
            f"need{'s' if one else ''} attention "
            f"({', '.join(p for p in parts if p)})"
        ),
        text=(
            f"{listed} Microsoft SNDS reports these addresses and no [[domains]] sending_ips "
            "lists them: each is counted in delivermon_snds_unconfigured_ips, not alerted on "
            "alone. List an IP in sending_ips for its own alerts, metrics and risk score."
        ),
        resolved_title=(
            "SNDS: no IP of the account outside sending_ips is YELLOW, RED, hit traps or blocked"
        ),
    )
