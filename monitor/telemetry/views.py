"""What the stored telemetry says now, per Gmail domain and per SNDS IP (pure).

Built from the store after each import and at start (``build_view``); the metrics, the
risk scorer, the alerts, the CLI and the findings read it. The latest values stay what
the last import that got through stored: an outage marks the state ``unavailable`` and
neither drops a rate to 0 nor clears a block.
"""

from __future__ import annotations

import bisect
import datetime as dt
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from checks.findings import Finding, FindingSeverity
from monitor.model.telemetry import (
    GMAIL_RECOVERY_DAYS,
    GMAIL_SPAM_CRITICAL_RATE,
    GMAIL_SPAM_WARN_RATE,
    FilterResult,
    GmailStat,
    GmailState,
    SndsBlock,
    SndsRow,
    TelemetrySource,
)
from monitor.store.telemetry import TelemetryStatus
from monitor.telemetry.snds import BlockIndex, worst_of

__all__ = [
    "OTHERS_RESULTS",
    "GmailDomainView",
    "SndsIpView",
    "SndsOthersView",
    "SourceView",
    "TelemetryView",
    "build_view",
    "gmail_findings",
    "snds_findings",
    "source_findings",
]


@dataclass(frozen=True, slots=True)
class GmailDomainView:
    """One domain: the last import's state and the latest stored values (None: no data)."""

    domain: str
    state: GmailState | None = None  # None: not imported yet
    reason: str = ""
    spam_rate: float | None = None
    spam_rate_day: dt.date | None = None
    latest: Mapping[str, float] = field(default_factory=dict)  # metric -> latest day's value
    recovery_date: dt.date | None = None  # set while Gmail's 7-day clock runs
    compliance: Mapping[str, str] = field(default_factory=dict)  # requirement -> status
    checked_at: dt.datetime | None = None

    @property
    def compliance_failing(self) -> bool | None:
        if not self.compliance:
            return None
        return any(s == "needs_work" for s in self.compliance.values())


@dataclass(frozen=True, slots=True)
class SndsIpView:
    """One IP: its latest SNDS row's verdicts and whether a blocked range covers it."""

    ip: str
    configured: bool
    filter_result: FilterResult | None = None
    trap_hits: int | None = None
    complaint_rate: str = ""
    activity_end: dt.datetime | None = None
    blocked: bool | None = None  # None: the block list was never imported
    block_reason: str = ""


@dataclass(frozen=True, slots=True)
class SndsOthersView:
    """The IPs SNDS reports that are no configured sending IP, counted: the account may
    hold a whole network, so the metrics name only configured IPs and count the others.

    ``by_result``: how many have each filter result in their latest period (``unknown``:
    none given); ``blocked``: how many a blocked range covers (None:
    the block list was never imported)."""

    by_result: Mapping[str, int] = field(default_factory=dict)
    blocked: int | None = None


# The ``result`` values of SndsOthersView.by_result: the filter results, and unknown.
OTHERS_RESULTS = (*(r.value for r in FilterResult), "unknown")


@dataclass(frozen=True, slots=True)
class SourceView:
    """A source's last import: ``up`` False when it failed (wholly or in part)."""

    source: TelemetrySource
    up: bool | None = None
    last_success: dt.datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TelemetryView:
    gmail: Mapping[str, GmailDomainView] = field(default_factory=dict)
    snds: Mapping[str, SndsIpView] = field(default_factory=dict)
    sources: Mapping[TelemetrySource, SourceView] = field(default_factory=dict)
    gmail_tracked: frozenset[str] = frozenset()  # domains [telemetry.gmail] imports
    snds_tracked: bool = False  # [telemetry.snds] is configured
    # Whether SNDS's last import of each endpoint got through (None: never imported): while
    # it fails, the last known values stand but say nothing new.
    snds_data_up: bool | None = None
    snds_blocks_up: bool | None = None
    # The IPs of ``snds`` that are not configured, counted; None until a data import got
    # through (or without [telemetry.snds]).
    snds_others: SndsOthersView | None = None
    # Blocked ranges of the list in force that cover no IP of ``snds`` (addresses of the
    # account with no traffic rows: often because they are blocked).
    snds_unlisted_blocks: tuple[SndsBlock, ...] = ()


def build_view(
    *,
    gmail_domains: Sequence[str],
    stats: Iterable[GmailStat],
    statuses: Iterable[TelemetryStatus],
    snds_ips: Iterable[str] | None,
    snds_rows: Iterable[SndsRow],
    blocks: Sequence[SndsBlock],
) -> TelemetryView:
    """The view of the configured domains and IPs (``snds_ips`` None: SNDS not configured)."""
    by_status = {(s.source, s.subject): s for s in statuses}
    by_domain: dict[str, list[GmailStat]] = {}
    for stat in stats:
        by_domain.setdefault(stat.domain, []).append(stat)
    gmail = {
        d: _gmail(d, by_domain.get(d, []), by_status.get((TelemetrySource.GMAIL, d)))
        for d in gmail_domains
    }
    sources: dict[TelemetrySource, SourceView] = {}
    if gmail_domains:
        sources[TelemetrySource.GMAIL] = _gmail_source(
            [by_status.get((TelemetrySource.GMAIL, d)) for d in gmail_domains]
        )
    snds: dict[str, SndsIpView] = {}
    others = None
    unlisted: tuple[SndsBlock, ...] = ()
    if snds_ips is not None:
        data = by_status.get((TelemetrySource.SNDS, "data"))
        ip_status = by_status.get((TelemetrySource.SNDS, "ip_status"))
        # The block list is known once a fetch of it has got through (the last one kept
        # while later fetches fail); before that an empty table says nothing.
        fetched = ip_status is not None and ip_status.last_ok_at is not None
        snds = _snds(set(snds_ips), snds_rows, blocks if fetched else None)
        sources[TelemetrySource.SNDS] = _snds_source(data, ip_status)
        if data is not None and data.last_ok_at is not None:  # else no count is known
            others = _others(snds.values(), blocks_known=fetched)
        if fetched:
            unlisted = _unlisted_blocks(blocks, snds)
    return TelemetryView(
        MappingProxyType(gmail),
        MappingProxyType(snds),
        MappingProxyType(sources),
        gmail_tracked=frozenset(gmail_domains),
        snds_tracked=snds_ips is not None,
        snds_data_up=_up(by_status.get((TelemetrySource.SNDS, "data"))),
        snds_blocks_up=_up(by_status.get((TelemetrySource.SNDS, "ip_status"))),
        snds_others=others,
        snds_unlisted_blocks=unlisted,
    )


def _unlisted_blocks(
    blocks: Sequence[SndsBlock], views: Mapping[str, SndsIpView]
) -> tuple[SndsBlock, ...]:
    """The blocked ranges that contain none of ``views``' IPs (a bisection per range over
    the IPs sorted per family: an account may hold a whole network)."""
    by_family: dict[int, list[int]] = {4: [], 6: []}
    for ip in views:
        address = ipaddress.ip_address(ip)
        by_family[address.version].append(int(address))
    for values in by_family.values():
        values.sort()
    found = []
    for block in blocks:
        if not block.blocked:
            continue
        first, last = ipaddress.ip_address(block.first_ip), ipaddress.ip_address(block.last_ip)
        if first.version != last.version:
            continue
        values = by_family[first.version]
        at = bisect.bisect_left(values, int(first))
        if at == len(values) or values[at] > int(last):
            found.append(block)
    return tuple(found)


def _up(status: TelemetryStatus | None) -> bool | None:
    return None if status is None else status.state == "ok"


def _gmail(domain: str, stats: list[GmailStat], status: TelemetryStatus | None) -> GmailDomainView:
    latest: dict[str, tuple[dt.date, float]] = {}
    high_days = []
    for stat in stats:
        if stat.metric not in latest or stat.day >= latest[stat.metric][0]:
            latest[stat.metric] = (stat.day, stat.value)
        if stat.metric == "spam_rate" and stat.value >= GMAIL_SPAM_CRITICAL_RATE:
            high_days.append(stat.day)
    spam = latest.get("spam_rate")
    recovery = None
    if spam is not None and high_days:
        until = max(high_days) + dt.timedelta(days=GMAIL_RECOVERY_DAYS)
        recovery = until if until > spam[0] else None
    compliance: Mapping[str, str] = {}
    if status is not None:
        found = status.detail_dict().get("compliance")
        if isinstance(found, dict):
            compliance = {str(k): str(v) for k, v in sorted(found.items())}
    return GmailDomainView(
        domain=domain,
        state=GmailState(status.state) if status is not None else None,
        reason=status.reason if status is not None else "",
        spam_rate=spam[1] if spam else None,
        spam_rate_day=spam[0] if spam else None,
        latest={m: v for m, (_d, v) in sorted(latest.items())},
        recovery_date=recovery,
        compliance=compliance,
        checked_at=status.checked_at if status is not None else None,
    )


def _gmail_source(statuses: list[TelemetryStatus | None]) -> SourceView:
    known = [s for s in statuses if s is not None]
    if not known:
        return SourceView(TelemetrySource.GMAIL)
    failed = [s for s in known if s.state == GmailState.UNAVAILABLE.value]
    successes = [s.last_ok_at for s in known if s.last_ok_at is not None]
    return SourceView(
        TelemetrySource.GMAIL,
        up=not failed,
        last_success=max(successes) if successes else None,
        reason=failed[0].reason if failed else "",
    )


def _snds_source(data: TelemetryStatus | None, ip_status: TelemetryStatus | None) -> SourceView:
    known = [s for s in (data, ip_status) if s is not None]
    if not known:
        return SourceView(TelemetrySource.SNDS)
    failed = [s for s in known if s.state != "ok"]
    successes = [s.last_ok_at for s in known if s.last_ok_at is not None]
    return SourceView(
        TelemetrySource.SNDS,
        up=not failed and len(known) == 2,
        last_success=min(successes) if len(successes) == 2 else None,
        reason=failed[0].reason if failed else "",
    )


def _snds(
    configured: set[str], rows: Iterable[SndsRow], blocks: Sequence[SndsBlock] | None
) -> dict[str, SndsIpView]:
    latest: dict[str, SndsRow] = {}
    for each in rows:
        seen = latest.get(each.ip)
        if seen is None or each.activity_end > seen.activity_end:
            latest[each.ip] = each
        elif each.activity_end == seen.activity_end:
            # Two periods ending together (one started later): the worse of each signal,
            # not whichever the store listed last.
            latest[each.ip] = worst_of(seen, each)
    views = {}
    index = BlockIndex(blocks) if blocks is not None else None
    for ip in sorted(configured | set(latest)):
        row = latest.get(ip)
        ranges = index.ranges_for(ip) if index is not None else []
        views[ip] = SndsIpView(
            ip=ip,
            configured=ip in configured,
            filter_result=row.filter_result if row else None,
            trap_hits=row.trap_hits if row else None,
            complaint_rate=row.complaint_rate if row else "",
            activity_end=row.activity_end if row else None,
            blocked=bool(ranges) if blocks is not None else None,
            block_reason=ranges[0].reason if ranges else "",
        )
    return views


def _others(views: Iterable[SndsIpView], *, blocks_known: bool) -> SndsOthersView:
    by_result = dict.fromkeys(OTHERS_RESULTS, 0)
    blocked = 0
    for view in views:
        if not view.configured:
            by_result[view.filter_result.value if view.filter_result else "unknown"] += 1
            blocked += bool(view.blocked)
    return SndsOthersView(MappingProxyType(by_result), blocked if blocks_known else None)


_STATE_FINDINGS = {
    GmailState.NO_DATA: ("gmail.no_data", FindingSeverity.INFO),
    GmailState.UNVERIFIED: ("gmail.unverified", FindingSeverity.ERROR),
    GmailState.PERMISSION_DENIED: ("gmail.permission_denied", FindingSeverity.ERROR),
    GmailState.UNAVAILABLE: ("gmail.unavailable", FindingSeverity.WARNING),
}


def gmail_findings(view: GmailDomainView) -> list[Finding]:
    """The domain's findings: its import state, its spam rate, its compliance."""
    found = []
    if view.state in _STATE_FINDINGS:
        code, severity = _STATE_FINDINGS[view.state]
        found.append(
            Finding(
                code, severity, f"Gmail Postmaster Tools: {view.state}", {"reason": view.reason}
            )
        )
    rate = view.spam_rate
    if rate is not None:
        detail: dict[str, str | int | bool | None] = {
            "spam_rate": f"{rate:.4f}",
            "day": view.spam_rate_day.isoformat() if view.spam_rate_day else None,
            "recovery_date": view.recovery_date.isoformat() if view.recovery_date else None,
        }
        if rate >= GMAIL_SPAM_CRITICAL_RATE:
            found.append(
                Finding(
                    "gmail.spam_rate_high",
                    FindingSeverity.CRITICAL,
                    f"Gmail spam rate {rate:.2%} (0.3% or more)",
                    detail,
                )
            )
        elif view.recovery_date is not None:
            found.append(
                Finding(
                    "gmail.spam_rate_recovering",
                    FindingSeverity.ERROR,
                    f"Gmail spam rate {rate:.2%}, recovering until {view.recovery_date}",
                    detail,
                )
            )
        elif rate >= GMAIL_SPAM_WARN_RATE:
            found.append(
                Finding(
                    "gmail.spam_rate_elevated",
                    FindingSeverity.WARNING,
                    f"Gmail spam rate {rate:.2%} (0.1% or more)",
                    detail,
                )
            )
    failing = sorted(r for r, s in view.compliance.items() if s == "needs_work")
    if failing:
        found.append(
            Finding(
                "gmail.compliance_failing",
                FindingSeverity.ERROR,
                "Gmail compliance: " + ", ".join(failing) + " need work",
                {"requirements": ",".join(failing)},
            )
        )
    return found


def snds_findings(view: SndsIpView) -> list[Finding]:
    """The IP's findings: filter result, trap hits, block, and whether it is configured."""
    found = []
    if view.filter_result is FilterResult.RED:
        found.append(Finding("snds.filter_red", FindingSeverity.CRITICAL, "SNDS filter result RED"))
    elif view.filter_result is FilterResult.YELLOW:
        found.append(
            Finding("snds.filter_yellow", FindingSeverity.WARNING, "SNDS filter result YELLOW")
        )
    if view.trap_hits:
        found.append(
            Finding(
                "snds.trap_hits",
                FindingSeverity.ERROR,
                f"SNDS: {view.trap_hits} spam-trap hits",
                {"trap_hits": view.trap_hits},
            )
        )
    if view.blocked:
        found.append(
            Finding(
                "snds.blocked",
                FindingSeverity.CRITICAL,
                "Blocked by Outlook.com (SNDS IP status)",
                {"reason": view.block_reason},
            )
        )
    if not view.configured:
        found.append(
            Finding(
                "snds.ip_not_configured",
                FindingSeverity.INFO,
                "SNDS reports an IP that is not a configured sending IP",
            )
        )
    return found


def source_findings(view: SourceView) -> list[Finding]:
    if view.source is TelemetrySource.SNDS and view.up is False:
        return [
            Finding(
                "snds.unavailable",
                FindingSeverity.WARNING,
                "SNDS import failed",
                {"reason": view.reason},
            )
        ]
    return []
