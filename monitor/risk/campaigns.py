"""Campaign figures read from the store for metrics, risk and the complaint-rate alerts.

Campaign labels are bounded: campaigns with sends or deliveries within
``[metrics] campaign_window`` keep their own label, at most ``max_campaigns`` of
them (the busiest first); every other campaign is summed into ``_other``.
``CampaignFigures`` keeps the latest figures between runs of the campaigns job.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from monitor.alerting.rules import CampaignRates, campaign_observations
from monitor.checking.sharding import Shard
from monitor.config import Config, parse_duration
from monitor.model.alerts import Observation
from monitor.risk.inputs import DomainFigures
from monitor.store import SqlStore
from monitor.store.audits import AUDIT_FIELDS, AuditCounts
from monitor.store.models import Campaign
from monitor.store.rates import (
    CountRow,
    Rates,
    Totals,
    VolumeGuard,
    Window,
    compute_rates,
    window_start,
)

__all__ = [
    "OTHER",
    "CampaignFigures",
    "CampaignRow",
    "CampaignSnapshot",
    "NewSeriesHold",
    "refresh_campaigns",
]

OTHER = "_other"
_TREND_DAYS = 7


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """Lifetime totals of one (campaign label, provider) pair."""

    campaign: str
    provider: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class CampaignSnapshot:
    """Store-derived campaign figures, with campaign labels already bounded."""

    lifetime: tuple[CampaignRow, ...] = ()
    # (campaign label, window) -> rates over that window, all providers
    rates: Mapping[tuple[str, str], Rates] = field(default_factory=dict)
    # (campaign label, provider, window) -> rates
    provider_rates: Mapping[tuple[str, str, str], Rates] = field(default_factory=dict)
    info: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # label -> category, consent
    audits: tuple[AuditCounts, ...] = ()
    campaigns_total: int = 0
    campaigns_other: int = 0


class NewSeriesHold:
    """Counter series that appear after start, shown at 0 for a while (``held()``), keyed
    by their labels (a campaign and provider, a campaign's audits, a campaign, provider
    and bounce class).

    Prometheus' rate()/increase() never count a series' first sample, so a campaign
    whose first scrape already showed 2,000 deliveries and 13 complaints would never
    reach the recording rules; nor would a campaign's first bounces from a provider, or
    of a class, that it had none of before. Series present at start keep their values
    (a restart must not look like a counter reset). ``hold`` should cover a scrape or two.
    """

    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._known: set[Hashable] | None = None  # series seen since start; None before
        self._held: Mapping[Hashable, float] = MappingProxyType({})  # -> shown at 0 until

    def held(self) -> Mapping[Hashable, float]:
        return self._held

    def observe(self, snapshot: CampaignSnapshot, hold: float) -> None:
        """The campaign counters' series: (campaign, provider), and ("audits", campaign)."""
        keys: set[Hashable] = {(row.campaign, row.provider) for row in snapshot.lifetime}
        keys |= {("audits", a.campaign) for a in snapshot.audits}
        self.observe_keys(keys, hold)

    def observe_keys(self, keys: Iterable[Hashable], hold: float) -> None:
        seen = set(keys)
        if self._known is None:
            self._known = seen
            return
        now = self._wall()
        held = {k: t for k, t in self._held.items() if t > now}
        for key in seen - self._known:
            held[key] = now + hold
        self._known |= seen
        self._held = MappingProxyType(held)


class CampaignFigures:
    """The latest campaign figures of this replica, for the metrics and the risk score.

    A campaign label that appears after start is held at 0 for ``[metrics]
    new_series_hold`` first (``NewSeriesHold``).
    """

    def __init__(self, store: SqlStore, *, wall: Callable[[], float] = time.time) -> None:
        self._store = store
        self._snapshot: CampaignSnapshot | None = None
        self._figures: Mapping[str, DomainFigures] = MappingProxyType({})
        self._hold = NewSeriesHold(wall=wall)

    def snapshot(self) -> CampaignSnapshot | None:
        return self._snapshot

    def held(self) -> Mapping[Hashable, float]:
        return self._hold.held()

    def figures(self) -> Mapping[str, DomainFigures]:
        return self._figures

    async def refresh(
        self, config: Config, guard: VolumeGuard, shard: Shard, now: dt.datetime
    ) -> list[Observation]:
        """Read the figures from the store; returns the complaint-rate observations."""
        snapshot, figures, observations = await refresh_campaigns(
            self._store, config, guard, shard, now=now
        )
        self._hold.observe(snapshot, parse_duration(config.metrics.new_series_hold))
        self._snapshot = snapshot
        self._figures = MappingProxyType(figures)
        return observations


async def refresh_campaigns(
    store: SqlStore, config: Config, guard: VolumeGuard, shard: Shard, *, now: dt.datetime
) -> tuple[CampaignSnapshot, dict[str, DomainFigures], list[Observation]]:
    window = dt.timedelta(seconds=parse_duration(config.metrics.campaign_window))
    recent = await store.counts(since=now - window)
    labels = _bounded_labels(recent, config.metrics.max_campaigns)
    lifetime = await store.counts()
    by_window: dict[str, tuple[CountRow, ...]] = {"lifetime": lifetime}
    for w in (Window.HOUR, Window.DAY, Window.WEEK):
        by_window[w.value] = await store.counts(since=window_start(w, now))
    campaigns = {c.id: c for c in await store.list_campaigns()}
    audits = await store.audit_counts()  # the risk: reports within the retention period
    counted = await store.audit_counts(purged=True)  # the counter: purged ones too

    def label(campaign: str) -> str:
        return campaign if campaign in labels else OTHER

    totals: dict[tuple[str, str], Totals] = {}
    for row in lifetime:
        key = (label(row.campaign), row.provider)
        totals[key] = totals.get(key, Totals()) + row.totals
    rates: dict[tuple[str, str], Rates] = {}
    provider_rates: dict[tuple[str, str, str], Rates] = {}
    for name, rows in by_window.items():
        per_label: dict[str, Totals] = {}
        per_provider: dict[tuple[str, str], Totals] = {}
        for row in rows:
            lab = label(row.campaign)
            per_label[lab] = per_label.get(lab, Totals()) + row.totals
            per_provider[(lab, row.provider)] = (
                per_provider.get((lab, row.provider), Totals()) + row.totals
            )
        for lab, t in per_label.items():
            rates[(lab, name)] = compute_rates(t, guard)
        for (lab, provider), t in per_provider.items():
            provider_rates[(lab, provider, name)] = compute_rates(t, guard)
    # Registered labels, else the ones the campaign's events carried (the same as the API).
    info = await store.campaign_labels(sorted(labels))
    all_campaigns = {r.campaign for r in lifetime}
    snapshot = CampaignSnapshot(
        lifetime=tuple(CampaignRow(c, p, t) for (c, p), t in sorted(totals.items())),
        rates=rates,
        provider_rates=provider_rates,
        info=info,
        audits=_bounded_audits(counted, labels),
        campaigns_total=len(all_campaigns),
        campaigns_other=len(all_campaigns - labels),
    )
    figures = await _domain_figures(store, config, now, by_window, campaigns, audits, guard)
    alert_window = config.alerts.complaint_window
    per_campaign: dict[str, Totals] = {}
    for row in by_window[alert_window]:
        per_campaign[row.campaign] = per_campaign.get(row.campaign, Totals()) + row.totals
    observations = campaign_observations(
        [
            CampaignRates(c, compute_rates(t, guard).complaint_rate, t.unsubscribe_violations)
            for c, t in sorted(per_campaign.items())
            if shard.owns_campaign(c)
        ],
        warning=config.alerts.complaint_warning,
        critical=config.alerts.complaint_critical,
        window=alert_window,
    )
    return snapshot, figures, observations


def _bounded_labels(rows: Iterable[CountRow], limit: int) -> set[str]:
    volume: dict[str, int] = {}
    for row in rows:
        # Any activity counts: a campaign known only from complaints (an FBL report
        # for mail we were not told about) must still get its own label.
        t = row.totals
        activity = t.sent + t.delivered + t.complaints + t.unsubscribes + t.bounces
        volume[row.campaign] = volume.get(row.campaign, 0) + activity
    busiest = sorted((v for v in volume.items() if v[1] > 0), key=lambda v: (-v[1], v[0]))
    return {c for c, _ in busiest[:limit]}


def _bounded_audits(audits: Sequence[AuditCounts], labels: set[str]) -> tuple[AuditCounts, ...]:
    kept = [a for a in audits if a.campaign in labels]
    rest = [a for a in audits if a.campaign not in labels]
    if rest:
        kept.append(
            AuditCounts(
                OTHER,
                *(sum(getattr(a, f) for a in rest) for f in AUDIT_FIELDS),
            )
        )
    return tuple(kept)


async def _domain_figures(
    store: SqlStore,
    config: Config,
    now: dt.datetime,
    by_window: dict[str, tuple[CountRow, ...]],
    campaigns: Mapping[str, Campaign],
    audits: Sequence[AuditCounts],
    guard: VolumeGuard,
) -> dict[str, DomainFigures]:
    """Per configured sending domain: rates of the campaigns registered with it."""
    owner: dict[str, str] = {}
    for cid, c in campaigns.items():
        if c.sending_domain:
            owner[cid] = c.sending_domain
    domains = {d.name for d in config.domains} & set(owner.values())
    if not domains:
        return {}

    def sums(rows: Iterable[CountRow]) -> dict[str, Totals]:
        found: dict[str, Totals] = {}
        for row in rows:
            domain = owner.get(row.campaign)
            if domain in domains:
                found[domain] = found.get(domain, Totals()) + row.totals
        return found

    day = sums(by_window[Window.DAY.value])
    week = sums(by_window[Window.WEEK.value])
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    daily: list[dict[str, Totals]] = []
    for back in range(_TREND_DAYS, 0, -1):
        start = midnight - dt.timedelta(days=back - 1)
        rows = await store.counts(since=start, until=start + dt.timedelta(days=1))
        daily.append(sums(rows))
    audit_by_domain: dict[str, tuple[int, int]] = {}
    for a in audits:
        domain = owner.get(a.campaign)
        if domain in domains:
            failures, audited = audit_by_domain.get(domain, (0, 0))
            audit_by_domain[domain] = (
                failures + a.audited - a.one_click_compliant,
                audited + a.audited,
            )
    figures = {}
    for domain in domains:
        now_rates = compute_rates(day.get(domain, Totals()), guard)
        base = compute_rates(week.get(domain, Totals()), guard)
        audit = audit_by_domain.get(domain)
        figures[domain] = DomainFigures(
            complaint_rate=now_rates.complaint_rate,
            complaint_rate_daily=tuple(
                compute_rates(d.get(domain, Totals()), guard).complaint_rate for d in daily
            ),
            unsubscribe_rate=now_rates.unsubscribe_rate,
            unsubscribe_baseline=base.unsubscribe_rate,
            bounce_rate=now_rates.bounce_rate,
            bounce_baseline=base.bounce_rate,
            one_click_failures=audit[0] if audit else None,
            one_click_audited=audit[1] if audit else None,
        )
    return figures
