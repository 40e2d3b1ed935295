"""Bounce figures read from the store for metrics and findings: rates per campaign x
provider x class, lifetime counts, and the bounce findings joined with the DNSBL sweep.

``BounceFigures`` keeps the latest snapshot between runs of the campaigns job (which
refreshes it after the campaign figures, so both use the same bounded campaign labels).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from checks.bounces.findings import BounceCount, BounceThresholds, bounce_findings, cited_ips
from checks.bounces.table import BLOCKLIST_NAMES
from checks.dnsbl import ZoneSpec
from checks.findings import Finding
from monitor.checking.cache import StateSnapshot
from monitor.checking.states import CheckName
from monitor.config import Config, parse_duration
from monitor.risk.campaigns import NewSeriesHold
from monitor.store import SqlStore
from monitor.store.rates import Window, window_start

__all__ = ["BounceFigures", "BounceSnapshot", "sweep_verdicts"]

OTHER = "_other"


@dataclass(frozen=True, slots=True)
class BounceSnapshot:
    """``lifetime``: (campaign label, provider, class) -> (bounces, deferrals);
    ``ratios``: (campaign label, provider, class) -> bounces and deferrals per attempt
    over ``window`` (absent below the volume guard); ``findings`` over the window;
    ``attempts``: campaign id -> delivery attempts in the window (what the
    hard-bounce rate divides by)."""

    window: str = "1h"
    lifetime: Mapping[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    ratios: Mapping[tuple[str, str, str], float] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    attempts: Mapping[str, int] = field(default_factory=dict)


def _list_names(zone: ZoneSpec) -> set[str]:
    text = f"{zone.id} {zone.query_zone} {zone.operator}".lower()
    return {name for pattern, name in BLOCKLIST_NAMES if pattern.search(text)}


def sweep_verdicts(states: StateSnapshot, zones: Sequence[ZoneSpec]) -> dict[str, dict[str, str]]:
    """Blocklist name -> IP -> the sweep's verdict over that operator's zones (listed wins);
    every list a configured zone belongs to has its entry, empty before any answer."""
    names = {zone.id: _list_names(zone) for zone in zones}
    verdicts: dict[str, dict[str, str]] = {name: {} for found in names.values() for name in found}
    for state in states.states.values():
        if state.check is not CheckName.DNSBL:
            continue
        for name in names.get(state.item, ()):
            per_ip = verdicts.setdefault(name, {})
            if per_ip.get(state.target) != "listed":
                per_ip[state.target] = state.status
    return verdicts


class BounceFigures:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._snapshot = BounceSnapshot()
        # (campaign, provider, class) series new since start: shown at 0 first.
        self._hold = NewSeriesHold()

    def snapshot(self) -> BounceSnapshot:
        return self._snapshot

    def held(self) -> Mapping[Hashable, float]:
        return self._hold.held()

    async def refresh(
        self,
        config: Config,
        *,
        states: StateSnapshot,
        zones: Sequence[ZoneSpec],
        labels: Iterable[str],
        now: dt.datetime,
    ) -> BounceSnapshot:
        known = set(labels)

        def label(campaign: str) -> str:
            return campaign if campaign in known else OTHER

        store = self._store
        window = Window(config.bounces.window)
        since = window_start(window, now)
        assert since is not None
        recent = await store.bounce_counts(since=since)
        lifetime: dict[tuple[str, str, str], tuple[int, int]] = {}
        for row in await store.bounce_counts():
            key = (label(row.campaign), row.provider, row.cls)
            b, d = lifetime.get(key, (0, 0))
            lifetime[key] = (b + row.bounces, d + row.deferrals)
        attempts: dict[tuple[str, str], int] = {}
        per_campaign: dict[str, int] = {}
        for count in await store.counts(since=since):
            n = count.totals.delivered + count.totals.bounces
            key2 = (label(count.campaign), count.provider)
            attempts[key2] = attempts.get(key2, 0) + n
            per_campaign[count.campaign] = per_campaign.get(count.campaign, 0) + n
        for row in recent:  # a deferral is an attempt too
            key2 = (label(row.campaign), row.provider)
            attempts[key2] = attempts.get(key2, 0) + row.deferrals
            per_campaign[row.campaign] = per_campaign.get(row.campaign, 0) + row.deferrals
        ratios: dict[tuple[str, str, str], float] = {}
        summed: dict[tuple[str, str, str], int] = {}
        for row in recent:
            key = (label(row.campaign), row.provider, row.cls)
            summed[key] = summed.get(key, 0) + row.bounces + row.deferrals
        guard = config.feedback.min_volume
        for key, n in summed.items():
            total = attempts.get(key[:2], 0)
            if total >= guard:
                ratios[key] = n / total
        cited: dict[tuple[str, str], set[str]] = {}
        for reply in await store.cited_replies(since=since):
            cited.setdefault((reply.provider, reply.blocklist), set()).update(
                cited_ips(reply.reply)
            )
        findings = bounce_findings(
            (
                BounceCount(r.campaign, r.provider, r.cls, r.blocklist, r.bounces, r.deferrals)
                for r in recent
            ),
            attempts=per_campaign,
            cited=cited,
            verdicts=sweep_verdicts(states, zones),
            thresholds=BounceThresholds(
                ratelimit=config.bounces.ratelimit_threshold,
                dmarc=config.bounces.dmarc_threshold,
                hard_bounce_rate=config.bounces.hard_bounce_rate,
                min_volume=guard,
            ),
        )
        self._hold.observe_keys(lifetime, parse_duration(config.metrics.new_series_hold))
        self._snapshot = BounceSnapshot(window.value, lifetime, ratios, findings, per_campaign)
        return self._snapshot
