"""Campaign figures read from the store for metrics, risk and the complaint-rate alerts.

Campaign labels are bounded: campaigns with sends or deliveries within
``[metrics] campaign_window`` keep their own label, at most ``max_campaigns`` of
them (the busiest first); every other campaign is summed into ``_other``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from monitor.alerting.rules import CampaignFigures, campaign_observations
from monitor.config import parse_duration
from monitor.daemon.runtime import Runtime
from monitor.metrics.collector import CampaignRow, CampaignSnapshot
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

__all__ = ["OTHER", "refresh_campaigns"]

OTHER = "_other"
_TREND_DAYS = 7


async def refresh_campaigns(
    store: SqlStore, rt: Runtime, *, now: dt.datetime
) -> tuple[CampaignSnapshot, dict[str, DomainFigures], list[Observation]]:
    config = rt.config
    guard = rt.guard
    window = dt.timedelta(seconds=parse_duration(config.metrics.campaign_window))
    recent = await store.counts(since=now - window)
    labels = _bounded_labels(recent, config.metrics.max_campaigns)
    lifetime = await store.counts()
    by_window: dict[str, tuple[CountRow, ...]] = {"lifetime": lifetime}
    for w in (Window.HOUR, Window.DAY, Window.WEEK):
        by_window[w.value] = await store.counts(since=window_start(w, now))
    campaigns = {c.id: c for c in await store.list_campaigns()}
    audits = await store.audit_counts()

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
    info = {}
    for lab in labels:
        c = campaigns.get(lab)
        category = c.category.value if c and c.category else "unknown"
        consent = c.consent.value if c and c.consent else "unknown"
        info[lab] = (category, consent)
    all_campaigns = {r.campaign for r in lifetime}
    snapshot = CampaignSnapshot(
        lifetime=tuple(CampaignRow(c, p, t) for (c, p), t in sorted(totals.items())),
        rates=rates,
        provider_rates=provider_rates,
        info=info,
        audits=_bounded_audits(audits, labels),
        campaigns_total=len(all_campaigns),
        campaigns_other=len(all_campaigns - labels),
    )
    figures = await _domain_figures(store, rt, now, by_window, campaigns, audits, guard)
    alert_window = config.alerts.complaint_window
    shard = rt.plan.shard
    per_campaign: dict[str, Totals] = {}
    for row in by_window[alert_window]:
        per_campaign[row.campaign] = per_campaign.get(row.campaign, Totals()) + row.totals
    observations = campaign_observations(
        [
            CampaignFigures(c, compute_rates(t, guard).complaint_rate, t.unsubscribe_violations)
            for c, t in sorted(per_campaign.items())
            if shard.owns(f"campaign:{c}")
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
    rt: Runtime,
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
    domains = {d.name for d in rt.config.domains} & set(owner.values())
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
