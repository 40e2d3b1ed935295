"""The daemon's ``dmarc`` job: classify each source of each domain's reported mail, look up
the top unknown sources' forward-confirmed PTR, and compute the metric snapshot.

A source is classified with delivermon's own SPF evaluator (RFC 7208 ``check_host``)
against the domain's current record, through the auth resolver. An SPF evaluation that
could not tell (temperror) leaves the source as it was: "could not tell" is never
"not ours".
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from checks.dns import DnsClient
from checks.host.ptr import PtrPolicy, check_ptr
from checks.spf.evaluate import SpfOutcome, check_host
from checks.spf.record import RecordParser
from monitor.config import Config, DomainConfig, parse_duration
from monitor.daemon.runtime import RuntimeHolder
from monitor.ingest.dmarc.analysis import (
    FAILURE_SETTLE,
    OTHER,
    RECENT,
    DmarcSnapshot,
    FigureKey,
    Readiness,
    classify,
    dmarc_figures,
    failure_label,
    metric_disposition,
    readiness,
    selector_findings,
    top_labels,
    zero_failures,
    zero_snapshot,
)
from monitor.ingest.dmarc.service import MAJOR_REPORTERS
from monitor.risk.campaigns import NewSeriesHold
from monitor.store import SqlStore
from monitor.store.dmarc import DmarcSource, SourceFigures
from monitor.store.dmarc_tally import MessageTallyKey

__all__ = ["DmarcJobs"]

log = logging.getLogger(__name__)

_WINDOW = dt.timedelta(days=30)
_WEEK = dt.timedelta(days=7)
_PTR_KEPT = dt.timedelta(days=1)  # a PTR name found is looked up again after this
STAGE_KEPT = dt.timedelta(days=1)  # staged rows of an unfinished report deleted after this
_CONCURRENCY = 128  # SPF evaluations in flight, all domains together
_DOMAINS_IN_FLIGHT = 32  # domains classified side by side
MAX_SOURCES = 5_000  # sources evaluated per domain and run, most mail first
MAX_DOMAINS = 100  # domains with their own label; the rest are "_other"
MAX_REPORTERS = 10  # reporters with their own label besides the major ones


def _plain_address(text: str) -> bool:
    """An IPv4 or IPv6 address without an IPv6 zone (``fe80::1%eth0``)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None)


@dataclass(frozen=True, slots=True)
class _DomainFigures:
    verdict: Readiness
    unmonitored: int  # selectors seen passing and not monitored
    sources: dict[str, int]  # sources by class, "unclassified" included


def _unclassified(_domain: str, _ip: str) -> str:
    return "unclassified"  # a tally call with no reports: nothing is classified


class DmarcJobs:
    """``classify`` (the ``dmarc`` job); ``snapshot`` is what the metrics read."""

    def __init__(
        self, runtime: RuntimeHolder, store: SqlStore, *, clock: Callable[[], dt.datetime]
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._clock = clock
        self._snapshot: DmarcSnapshot | None = None
        # A counter series new since start (a reporter's or domain's first report) is shown
        # at 0 first, or increase() never counts what it held when it appeared.
        self._hold = NewSeriesHold()  # wall time, as the collector compares it with

    def snapshot(self) -> DmarcSnapshot:
        if self._snapshot is None:
            return zero_snapshot([d.name for d in self._runtime.current.config.domains])
        return self._snapshot

    def held(self) -> Mapping[Hashable, float]:
        """The counter series shown at 0 until (``DmarcSnapshot.counter_series`` keys)."""
        return self._hold.held()

    def _publish(self, snapshot: DmarcSnapshot) -> None:
        """The new snapshot; the first one (the stored tallies at start) is the baseline."""
        hold = parse_duration(self._runtime.current.config.metrics.new_series_hold)
        self._hold.observe_keys(snapshot.counter_series(), hold)
        self._snapshot = snapshot

    async def load(self) -> None:
        """At start: the counters as the store's tallies hold them, until the first run.

        Without it, a restarted daemon exported its DMARC counters at 0 until the first
        run (SPF for every source) had finished: Prometheus read 0 and then the lifetime
        total as a reset and an increase of the whole total. The gauges (recent mail,
        readiness, ratios) wait for the run. Tallies from before labels are left to it.
        """
        configured = [d.name for d in self._runtime.current.config.domains]
        snapshot = zero_snapshot(configured)
        failure_tally = await self._store.dmarc_failure_tally()
        message_tally, report_tally = await self._store.tally_dmarc_reports([], _unclassified)
        if not await self._store.dmarc_tallies_labelled():
            if not (failure_tally or message_tally or report_tally):
                # A fresh store: nothing counted yet, so every series the first run
                # counts is new (held at 0 first, as one counted later would be).
                self._publish(snapshot)
            return
        messages = dict(snapshot.messages)
        for (domain, cls, dmarc, disposition), n in message_tally.items():
            key = FigureKey(domain, cls, dmarc, metric_disposition(disposition))
            messages[key] = messages.get(key, 0) + n
        failures = dict(zero_failures(configured))
        for (label, token), n in (failure_tally or {}).items():
            pair = (label, failure_label(token))
            failures[pair] = failures.get(pair, 0) + n
        self._publish(
            dataclasses.replace(
                snapshot, messages=messages, reports=dict(report_tally), failures=failures
            )
        )

    async def classify(self) -> None:
        rt = self._runtime.current
        config = rt.config
        now = self._clock()
        configured = [d.name for d in config.domains]
        # The reports to count this run: stored before the sources are classified below.
        uncounted = await self._store.uncounted_dmarc_reports()
        stored = await self._store.dmarc_domains()
        domains = list(dict.fromkeys([*configured, *stored]))[:MAX_DOMAINS]
        ratios: dict[tuple[str, str], float] = {}
        verdicts: dict[str, str] = {}
        unmonitored: dict[str, int] = {}
        source_counts: dict[tuple[str, str], int] = {}
        # Domains side by side, so one whose DNS times out does not hold up the rest (one
        # after another, a hundred domains with the resolver down took minutes); the SPF
        # evaluations of all of them share one bound.
        spf_limit = asyncio.Semaphore(_CONCURRENCY)
        domain_limit = asyncio.Semaphore(_DOMAINS_IN_FLIGHT)

        async def one(domain: str) -> _DomainFigures:
            async with domain_limit:
                return await self._domain(domain, config, rt.auth_dns, now, spf_limit)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(domain)) for domain in domains]
        except ExceptionGroup as failed:
            # The first failure, as a run one domain at a time would have raised it (the
            # scheduler logs a known one, a store outage, without a traceback); the other
            # domains were cancelled.
            raise failed.exceptions[0] from None
        for domain, task in zip(domains, tasks, strict=True):
            done = task.result()
            verdicts[domain] = done.verdict.verdict
            for name, window in (("7d", done.verdict.week), ("30d", done.verdict.month)):
                if window.ratio is not None:
                    ratios[(domain, name)] = window.ratio
            unmonitored[domain] = done.unmonitored
            for cls, n in done.sources.items():
                source_counts[(domain, cls)] = n
        messages, recent, reports, reporter_last = await self._figures(
            config, domains, now, uncounted
        )
        failures = dict(zero_failures(configured))
        # Each report under the label it got when counted (its domain when that was
        # configured or had aggregate reports, else _other): a label taken now would move
        # earlier counts between series, and the one they left would fall.
        labelled = frozenset(domains)
        tally = await self._store.tally_dmarc_failures(
            now - FAILURE_SETTLE, lambda domain: domain if domain in labelled else OTHER
        )
        for (label, token), n in tally.items():
            pair = (label, failure_label(token))
            failures[pair] = failures.get(pair, 0) + n
        self._publish(
            DmarcSnapshot(
                messages=messages,
                recent=recent,
                reports=reports,
                reporter_last=reporter_last,
                pass_ratio=ratios,
                readiness=verdicts,
                unmonitored_selectors=unmonitored,
                sources=source_counts,
                failures=failures,
            )
        )
        log.debug("dmarc sources classified", extra={"domains": len(domains)})

    async def _domain(
        self,
        domain: str,
        config: Config,
        dns: DnsClient,
        now: dt.datetime,
        spf_limit: asyncio.Semaphore,
    ) -> _DomainFigures:
        """One domain's sources classified, its readiness and its figures."""
        settings = next((d for d in config.domains if d.name == domain), None)
        figures = await self._store.dmarc_source_figures(domain, now - _WINDOW)
        classes = await self._classify_domain(domain, settings, figures, dns, now, spf_limit)
        week = await self._store.dmarc_reporter_figures(domain, now - _WEEK)
        month = await self._store.dmarc_reporter_figures(domain, now - _WINDOW)
        total = sum(f.messages for f in figures)
        selectors = await self._store.dmarc_selectors(domain, now - _WINDOW)
        # By the class stored for each source, as the API and the recent-messages counts
        # read it: this run's, or an earlier run's for a source this one left alone (past
        # MAX_SOURCES, or DNS could not tell). Never told: unclassified, never another.
        stored = {s.source_ip: s.classification for s in await self._store.dmarc_sources(domain)}
        sources = dict.fromkeys(("own", "forwarder", "unknown", "unclassified"), 0)
        for f in figures:
            sources[classes.get(f.source_ip) or stored.get(f.source_ip) or "unclassified"] += 1
        return _DomainFigures(
            verdict=readiness(week, month, classes, config.dmarc),
            unmonitored=len(selector_findings(settings, selectors, total)),
            sources=sources,
        )

    async def _classify_domain(
        self,
        domain: str,
        settings: DomainConfig | None,
        figures: Sequence[SourceFigures],
        dns: DnsClient,
        now: dt.datetime,
        spf_limit: asyncio.Semaphore,
    ) -> dict[str, str]:
        """Each source's class (stored); sources that could not be told keep the old one."""
        previous = {s.source_ip: s for s in await self._store.dmarc_sources(domain)}
        own_ips = set(settings.sending_ips) if settings else set()
        # A stored source that is not a plain address (a scoped IPv6 address stored
        # before ingest refused them) stays unclassified: SPF and PTR cannot take it, and
        # one such row must not stop the run for every domain.
        evaluated = [f for f in figures[:MAX_SOURCES] if _plain_address(f.source_ip)]
        if len(evaluated) < len(figures[:MAX_SOURCES]):
            log.warning(
                "DMARC sources of %s left unclassified: not plain IP addresses (%d)",
                domain,
                len(figures[:MAX_SOURCES]) - len(evaluated),
            )
        spf = await self._spf(
            domain, [f.source_ip for f in evaluated if f.source_ip not in own_ips], dns, spf_limit
        )
        classes: dict[str, str] = {}
        for f in evaluated:
            result = spf.get(f.source_ip)
            if result is SpfOutcome.TEMPERROR and f.source_ip in previous:
                classes[f.source_ip] = previous[f.source_ip].classification
                continue
            if result is SpfOutcome.TEMPERROR:
                continue  # unclassified until DNS can tell
            classes[f.source_ip] = classify(
                f, own_ip=f.source_ip in own_ips, spf_pass=result is SpfOutcome.PASS
            )
        ptrs = await self._ptrs(domain, evaluated, classes, previous, dns, now)
        await self._store.save_dmarc_sources(
            [DmarcSource(domain, ip, cls, ptrs.get(ip), now) for ip, cls in classes.items()]
        )
        await self._store.forget_dmarc_sources(domain, [f.source_ip for f in figures])
        return classes

    async def _spf(
        self, domain: str, ips: Sequence[str], dns: DnsClient, limit: asyncio.Semaphore
    ) -> dict[str, SpfOutcome]:
        parser = RecordParser()

        async def one(ip: str) -> tuple[str, SpfOutcome]:
            async with limit:
                evaluation = await check_host(
                    ip, domain, f"postmaster@{domain}", dns=dns, helo=domain, parser=parser
                )
            return ip, evaluation.result

        return dict(await asyncio.gather(*(one(ip) for ip in ips)))

    async def _ptrs(
        self,
        domain: str,
        figures: Sequence[SourceFigures],
        classes: dict[str, str],
        previous: dict[str, DmarcSource],
        dns: DnsClient,
        now: dt.datetime,
    ) -> dict[str, str | None]:
        """Forward-confirmed PTR names of the top unknown sources (kept a day once found)."""
        limit = self._runtime.current.config.dmarc.ptr_lookups
        found: dict[str, str | None] = {
            ip: s.ptr for ip, s in previous.items() if s.ptr and now - s.classified_at < _PTR_KEPT
        }
        unknown = [f.source_ip for f in figures if classes.get(f.source_ip) == "unknown"]
        todo = [ip for ip in unknown[:limit] if ip not in found]

        async def one(ip: str) -> tuple[str, str | None]:
            result = await check_ptr(ip, dns=dns, policy=PtrPolicy())
            return ip, (result.confirmed_names[0] if result.confirmed_names else None)

        found.update(await asyncio.gather(*(one(ip) for ip in todo)))
        return found

    async def _messages(
        self,
        config: Config,
        domains: Sequence[str],
        since: dt.datetime,
        classes: Mapping[tuple[str, str], str],
    ) -> dict[FigureKey, int]:
        """Messages of the reports whose range ends at ``since`` or later, by the labels
        of the message families and the sources' current classes."""
        shown = set(domains)
        totals = await self._store.dmarc_totals(since)
        figures = dict(zero_snapshot([d.name for d in config.domains]).messages)
        for key, n in dmarc_figures(totals, classes).items():
            label = key.domain if key.domain in shown else OTHER
            shown_key = FigureKey(label, key.classification, key.dmarc, key.disposition)
            figures[shown_key] = figures.get(shown_key, 0) + n
        return figures

    async def _count(
        self,
        config: Config,
        domains: Sequence[str],
        now: dt.datetime,
        uncounted: Sequence[str],
        classes: Mapping[tuple[str, str], str],
    ) -> tuple[dict[MessageTallyKey, int], dict[tuple[str, str], int]]:
        """Count the reports ``uncounted`` (each source with its class now), then purge the
        counted reports older than ``[dmarc] retention_days``; the whole tallies.

        Each report is counted under the labels it keeps: its domain when configured,
        already labelled, or among the first ``MAX_DOMAINS``; its reporter when a major
        one, already labelled, or among the first ``MAX_REPORTERS`` others; else
        ``_other``. Labels chosen again at each export (the largest reporters, the
        domains with reports stored) moved counts between series, and the series they
        left fell."""
        message_tally, report_tally = await self._store.tally_dmarc_reports([], _unclassified)
        if not await self._store.dmarc_tallies_labelled():
            # Rows counted before labels were: under the labels the export read them by.
            shown = set(domains)
            by_reporter: dict[str, int] = {}
            for (_d, name), n in report_tally.items():
                by_reporter[name] = by_reporter.get(name, 0) + n
            ranked = top_labels(by_reporter, MAJOR_REPORTERS, MAX_REPORTERS)
            await self._store.relabel_dmarc_tallies(
                lambda d: d if d in shown else OTHER, lambda r: ranked.get(r, OTHER), now
            )
            message_tally, report_tally = await self._store.tally_dmarc_reports([], _unclassified)
        configured = {d.name for d in config.domains}
        known_domains = ({k[0] for k in message_tally} | {d for d, _ in report_tally}) - {OTHER}
        known_reporters = {r for _, r in report_tally} - {OTHER}

        def domain_label(name: str) -> str:
            if name in configured or name in known_domains:
                return name
            if len(known_domains | configured) < MAX_DOMAINS:
                known_domains.add(name)
                return name
            return OTHER

        def reporter_label(name: str) -> str:
            if name in MAJOR_REPORTERS or name in known_reporters:
                return name
            if len(known_reporters - set(MAJOR_REPORTERS)) < MAX_REPORTERS:
                known_reporters.add(name)
                return name
            return OTHER

        tallies = await self._store.tally_dmarc_reports(
            uncounted,
            lambda domain, ip: classes.get((domain, ip), "unclassified"),
            domain_label,
            reporter_label,
        )
        days = config.dmarc.retention_days
        purged = await self._store.purge_dmarc_reports(now - dt.timedelta(days=days))
        if purged:
            log.info("dmarc aggregate reports purged", extra={"reports": purged, "days": days})
        # Rows a large report staged before its process was killed (a live report
        # stages and stores within minutes).
        stale = await self._store.purge_dmarc_stage(now - STAGE_KEPT)
        if stale:
            log.warning("dmarc staged rows of unfinished reports deleted", extra={"rows": stale})
        return tallies

    async def _figures(
        self, config: Config, domains: Sequence[str], now: dt.datetime, uncounted: Sequence[str]
    ) -> tuple[
        dict[FigureKey, int],
        dict[FigureKey, int],
        dict[tuple[str, str], int],
        dict[tuple[str, str], float],
    ]:
        """The counters' values (every report ever counted), the recent messages and the
        reporters' last reports, with bounded labels."""
        sources = await self._store.dmarc_sources()
        classes = {(s.domain, s.source_ip): s.classification for s in sources}
        message_tally, report_tally = await self._count(config, domains, now, uncounted, classes)
        recent = await self._messages(config, domains, now - RECENT, classes)
        # The tallies hold labels (see _count): exported as they are, so no series falls.
        figures = dict(zero_snapshot([d.name for d in config.domains]).messages)
        for (domain, cls, dmarc, disposition), n in message_tally.items():
            key = FigureKey(domain, cls, dmarc, metric_disposition(disposition))
            figures[key] = figures.get(key, 0) + n
        reports: dict[tuple[str, str], int] = dict(report_tally)
        shown = {k.domain for k in figures} | {d for d, _ in reports}
        named = {r for _, r in reports} | set(MAJOR_REPORTERS)
        last = await self._store.dmarc_reporter_last_seen()
        reporter_last: dict[tuple[str, str], float] = {}
        for domain, reporter, end in last:
            pair = (domain if domain in shown else OTHER, reporter if reporter in named else OTHER)
            reporter_last[pair] = max(reporter_last.get(pair, 0.0), end.timestamp())
        return figures, recent, reports, reporter_last
