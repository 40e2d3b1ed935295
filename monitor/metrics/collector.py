"""Prometheus metrics on the daemon's own registry.

Current state comes from ``StateCollector``, a custom collector over the snapshots the
daemon's services own (``MetricsSources``: the state cache, the risk scorer, the
campaign figures, the scheduler), which the jobs update after each run and which are
loaded from the store at start. Nothing here queries DNS or the database at scrape
time. Events in this process (ingest, errors, notifications) are counters. Every
metric is listed in ``docs/metrics.md`` (a test keeps the two in sync).
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from checks.findings import FINDING_CODES
from monitor.checking.cache import StateSnapshot
from monitor.checking.states import RESOLVER_REFUSED_ERRORS, CheckName, CheckState
from monitor.ingest.dmarc.analysis import DmarcSnapshot
from monitor.ingest.kinds import INGEST_KINDS
from monitor.metrics.dmarc import dmarc_families
from monitor.metrics.telemetry import IMPORT_FAILURE_STATES, telemetry_families
from monitor.model.telemetry import TelemetrySource
from monitor.risk.bounces import BounceSnapshot
from monitor.risk.campaigns import CampaignSnapshot
from monitor.risk.inputs import sending_spf_results
from monitor.risk.scorer import RiskView
from monitor.store.rates import Totals
from monitor.telemetry.views import TelemetryView

__all__ = [
    "INGEST_REFUSED_REASONS",
    "JOB_ERROR_REASONS",
    "JobView",
    "Metrics",
    "MetricsSources",
    "ReloadStatus",
    "Scope",
    "StateCollector",
]

NAMESPACE = "delivermon"
# Label values of the ingest counters' ``source``: HTTP routes, IMAP, the CLI.
BOUNCE_FINDING_CODES = tuple(c for c in FINDING_CODES if c.startswith("bounce."))
# Every kind of mail (its route and its CLI command count under its name) is one.
_WEBHOOKS = ("ses", "sendgrid", "mailgun", "postmark")
# Webhooks that post several events at once and skip the items they cannot read.
BATCH_WEBHOOKS = ("sendgrid",)
INGEST_SOURCES = tuple(
    dict.fromkeys(("events", *(kind.name for kind in INGEST_KINDS), *_WEBHOOKS, "imap"))
)
# ``reason`` of delivermon_ingest_refused_total: the HTTP status class of the refusal
# (monitor/http/system.py maps statuses to these), or ``unprocessable`` from IMAP.
INGEST_REFUSED_REASONS = (
    "malformed",
    "unauthorized",
    "forbidden",
    "not_enabled",
    "method_not_allowed",
    "too_large",
    "unsupported_media_type",
    "unprocessable",
    "rate_limited",
    "server_error",
    "client_aborted",
    "other",
)
RELOAD_OUTCOMES = ("success", "failure")
NOTIFICATION_STATUSES = ("sent", "retry", "failed", "dropped")
# ``reason`` of delivermon_errors_total for a job: an expected failure (a MonitorError,
# such as an IMAP server or a database that does not answer) or anything else (a bug).
JOB_ERROR_REASONS = ("expected", "unexpected")
RECORD_STATUSES = ("ok", "warn", "fail", "unknown")
DMARC_POLICIES = ("none", "quarantine", "reject", "missing")
SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
RISK_LEVELS = ("ok", "elevated", "high", "critical")
AUDIT_RESULTS = ("compliant", "non_compliant", "not_audited")


class JobView(Protocol):
    """What the metrics read of a scheduled job (``monitor.daemon.scheduler.JobStatus``)."""

    @property
    def name(self) -> str: ...
    @property
    def interval(self) -> float: ...
    @property
    def runs(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def last_success(self) -> float | None: ...
    @property
    def last_duration(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """This replica's share: targets (target -> kind), shard, facts of the zones in use."""

    targets: Mapping[str, str] = field(default_factory=dict)
    shard: tuple[int, int] = (0, 1)
    zone_info: Mapping[str, tuple[str, bool]] = field(default_factory=dict)  # severity, ew


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    ok: bool = True
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class MetricsSources:
    """Where the collector reads the current state on each scrape: each service's snapshot.

    Every callable returns an immutable value owned by its service (no I/O, no locks).
    """

    states: Callable[[], StateSnapshot] = StateSnapshot
    risk: Callable[[], Mapping[str, RiskView]] = dict
    campaigns: Callable[[], CampaignSnapshot | None] = lambda: None
    bounces: Callable[[], BounceSnapshot | None] = lambda: None
    # Counter series new since start, shown at 0 until (NewSeriesHold), by their labels.
    held_campaigns: Callable[[], Mapping[Hashable, float]] = dict
    held_bounces: Callable[[], Mapping[Hashable, float]] = dict
    held_dmarc: Callable[[], Mapping[Hashable, float]] = dict
    jobs: Callable[[], Iterable[JobView]] = tuple
    scope: Callable[[], Scope] = Scope
    outbox_pending: Callable[[], int] = lambda: 0
    reload: Callable[[], ReloadStatus] = ReloadStatus
    telemetry: Callable[[], TelemetryView] = TelemetryView
    dmarc: Callable[[], DmarcSnapshot | None] = lambda: None


class Metrics:
    """The registry and the event counters; built once by the composition root."""

    def __init__(self, sources: MetricsSources, *, version: str, catalogue_version: str) -> None:
        # No *_created series: they double every counter and no rule or panel uses
        # them. (prometheus_client keeps this switch process-wide.)
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.ingest_accepted = Counter(
            "delivermon_ingest_accepted",
            "Reports, events and webhook deliveries accepted, by source.",
            ["source"],
            registry=reg,
        )
        self.ingest_refused = Counter(
            "delivermon_ingest_refused",
            "Input refused (nothing stored), by source and reason.",
            ["source", "reason"],
            registry=reg,
        )
        self.ingest_skipped = Counter(
            "delivermon_ingest_skipped_items",
            "Items of an accepted webhook batch that could not be read and were skipped "
            "(the rest stored), by source.",
            ["source"],
            registry=reg,
        )
        self.errors = Counter(
            "delivermon_errors",
            "Unexpected errors caught at a boundary that keeps the daemon running.",
            ["component", "reason"],
            registry=reg,
        )
        self.notifications = Counter(
            "delivermon_notifications",
            "Notification attempts by notifier and outcome (sent, retry, failed).",
            ["notifier", "status"],
            registry=reg,
        )
        self.dnsbl_unknown = Counter(
            "delivermon_dnsbl_unknown_results",
            "DNSBL results that could not be told, by zone and reason.",
            ["zone", "reason"],
            registry=reg,
        )
        self.config_reloads = Counter(
            "delivermon_config_reloads",
            "Configuration reloads by outcome (success, failure).",
            ["outcome"],
            registry=reg,
        )
        self.telemetry_failures = Counter(
            "delivermon_telemetry_import_failures",
            "Receiver-telemetry imports that did not get through, per subject (a Gmail "
            "domain, an SNDS endpoint), by source and state.",
            ["source", "state"],
            registry=reg,
        )
        # Every series whose labels are known now is exported at 0 before its first event,
        # so panels read 0, not "No data", and increase() counts the first event.
        for source in INGEST_SOURCES:
            self.ingest_accepted.labels(source)
            for reason in INGEST_REFUSED_REASONS:
                self.ingest_refused.labels(source, reason)
        for source in BATCH_WEBHOOKS:
            self.ingest_skipped.labels(source)
        for outcome in RELOAD_OUTCOMES:
            self.config_reloads.labels(outcome)
        for source in TelemetrySource:
            for state in IMPORT_FAILURE_STATES:
                self.telemetry_failures.labels(source.value, state)
        ProcessCollector(registry=reg)  # process_start_time_seconds, memory, CPU, fds
        self.registry.register(
            StateCollector(sources, version=version, catalogue_version=catalogue_version)
        )

    def expect(
        self,
        *,
        zones: Mapping[str, Iterable[str]],
        notifiers: Iterable[str],
        components: Mapping[str, Iterable[str]],
    ) -> None:
        """Export at 0 the series the running config makes known (at start, on reload):
        each zone's unknown-result reasons, each notifier's outcomes, each component's
        error reasons. Series of a config that is gone stay (a counter is never removed)."""
        for zone, reasons in zones.items():
            for reason in reasons:
                self.dnsbl_unknown.labels(zone, reason)
        for name in notifiers:
            for status in NOTIFICATION_STATUSES:
                self.notifications.labels(name, status)
        for component, reasons in components.items():
            for reason in reasons:
                self.errors.labels(component, reason)

    def accepted(self, source: str) -> None:
        """One input accepted from ``source`` (an HTTP route, IMAP, the CLI)."""
        self.ingest_accepted.labels(source).inc()

    def refused(self, source: str, reason: str) -> None:
        """One input refused (nothing stored), with the reason."""
        self.ingest_refused.labels(source, reason).inc()

    def skipped(self, source: str, items: int) -> None:
        """Items of an accepted batch from ``source`` skipped as unreadable."""
        self.ingest_skipped.labels(source).inc(items)

    def count_dnsbl_unknown(self, zone: str, reason: str) -> None:
        """One DNSBL verdict that could not be told."""
        self.dnsbl_unknown.labels(zone, reason).inc()

    def count_telemetry_failure(self, source: str, state: str) -> None:
        """One subject of a telemetry import that did not get through."""
        self.telemetry_failures.labels(source, state).inc()

    def count_notification(self, notifier: str, status: str) -> None:
        """One notification attempt's outcome (``sent``, ``retry``, ``failed``)."""
        self.notifications.labels(notifier, status).inc()


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class StateCollector(Collector):
    """Yields the current state as metric families on every scrape."""

    def __init__(self, sources: MetricsSources, *, version: str, catalogue_version: str) -> None:
        self._sources = sources
        self._version = version
        self._catalogue = catalogue_version

    def describe(self) -> list[Metric]:
        return []  # families vary with the data; nothing to pre-declare

    def collect(self) -> Iterator[Metric]:
        src = self._sources
        scope = src.scope()
        states = src.states()
        yield from self._build(scope, src)
        yield from self._checks(states)
        yield from self._states(states, scope)
        yield from self._risk(src.risk())
        campaigns = src.campaigns()
        if campaigns is not None and scope.shard[0] == 0:
            yield from self._campaigns(campaigns, src.held_campaigns())
        if scope.shard[0] == 0:  # imported by the first replica only
            yield from telemetry_families(src.telemetry())
        dmarc = src.dmarc()
        if dmarc is not None and scope.shard[0] == 0:  # the dmarc job runs on the first only
            yield from dmarc_families(dmarc, src.held_dmarc())
        bounces = src.bounces()
        if bounces is not None and scope.shard[0] == 0:
            yield from self._bounces(bounces, src.held_bounces())

    def _build(self, scope: Scope, src: MetricsSources) -> Iterator[Metric]:
        info = _gauge(
            "delivermon_build_info",
            "Version of the daemon, Python and the zone catalogue; always 1.",
            ["version", "python", "catalogue_version"],
        )
        info.add_metric([self._version, platform.python_version(), self._catalogue], 1)
        yield info
        ok = _gauge(
            "delivermon_config_last_reload_successful",
            "1 when the last configuration load or reload succeeded.",
            [],
        )
        reload = src.reload()
        ok.add_metric([], 1 if reload.ok else 0)
        yield ok
        at = _gauge(
            "delivermon_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
            [],
        )
        at.add_metric([], reload.at)
        yield at
        shard = _gauge(
            "delivermon_shard_info",
            "This replica's shard (index of count); always 1.",
            ["index", "count"],
        )
        shard.add_metric([str(scope.shard[0]), str(scope.shard[1])], 1)
        yield shard
        targets = _gauge("delivermon_targets", "Targets this replica checks, by kind.", ["kind"])
        for kind in ("ip", "domain"):
            targets.add_metric([kind], sum(1 for k in scope.targets.values() if k == kind))
        yield targets
        if scope.shard[0] == 0:  # the outbox is the cluster's: one replica exports it
            pending = _gauge(
                "delivermon_notifications_pending", "Notifications queued and not yet sent.", []
            )
            pending.add_metric([], src.outbox_pending())
            yield pending
        jobs = src.jobs()
        interval = _gauge(
            "delivermon_job_interval_seconds", "Configured interval of each job.", ["task"]
        )
        last = _gauge(
            "delivermon_job_last_success_timestamp_seconds",
            "When each job last completed without error.",
            ["task"],
        )
        duration = _gauge(
            "delivermon_job_duration_seconds", "Duration of each job's last run.", ["task"]
        )
        runs = CounterMetricFamily(
            "delivermon_job_runs", "Runs of each job by outcome.", labels=["task", "outcome"]
        )
        for job in jobs:
            interval.add_metric([job.name], job.interval)
            if job.last_success is not None:
                last.add_metric([job.name], job.last_success)
            if job.last_duration is not None:
                duration.add_metric([job.name], job.last_duration)
            runs.add_metric([job.name, "success"], job.runs - job.failures)
            runs.add_metric([job.name, "failure"], job.failures)
        yield from (interval, last, duration, runs)

    def _checks(self, states: StateSnapshot) -> Iterator[Metric]:
        success = _gauge(
            "delivermon_check_success",
            "1 when the check's last run gave a result (even a bad one), 0 when it could not.",
            ["check", "target"],
        )
        duration = _gauge(
            "delivermon_check_duration_seconds",
            "Duration of the check's last run.",
            ["check", "target"],
        )
        last = _gauge(
            "delivermon_check_last_run_timestamp_seconds",
            "When the check last ran.",
            ["check", "target"],
        )
        for run in states.runs.values():
            labels = [run.check, run.target]
            success.add_metric(labels, 1 if run.success else 0)
            duration.add_metric(labels, run.duration_seconds)
            last.add_metric(labels, run.ran_at.timestamp())
        yield from (success, duration, last)

    def _states(self, snap: StateSnapshot, scope: Scope) -> Iterator[Metric]:
        listed = _gauge(
            "delivermon_dnsbl_listed",
            "1 listed, 0 not listed; absent while the result is unknown.",
            ["target", "zone"],
        )
        listing = _gauge(
            "delivermon_dnsbl_listing_severity",
            "1 while listed, with the listing's severity (its return code's, else the zone's).",
            ["target", "zone", "severity"],
        )
        unknown = _gauge(
            "delivermon_dnsbl_unknown",
            "1 when the list could not tell (DNS failure, error code, unhealthy zone).",
            ["target", "zone"],
        )
        refused = _gauge(
            "delivermon_dnsbl_resolver_refused",
            "1 when the list refuses our resolver (public resolver, excessive queries).",
            ["zone"],
        )
        zone_healthy = _gauge(
            "delivermon_dnsbl_zone_healthy",
            "1 when every self-tested family of the zone answers its test points.",
            ["zone"],
        )
        family_healthy = _gauge(
            "delivermon_dnsbl_zone_family_healthy",
            "Self-test result per zone and family (ipv4, ipv6, domain).",
            ["zone", "family"],
        )
        zone_info = _gauge(
            "delivermon_dnsbl_zone_info",
            "Catalogue facts of each zone in use; always 1.",
            ["zone", "severity", "early_warning"],
        )
        status = _gauge(
            "delivermon_record_status",
            "Status of an authentication or host check; 1 for the current status, 0 the others.",
            ["check", "target", "item", "status"],
        )
        changed = _gauge(
            "delivermon_record_last_change_timestamp_seconds",
            "When the check's status or published record last changed.",
            ["check", "target", "item"],
        )
        content = _gauge(
            "delivermon_record_content_changed_timestamp_seconds",
            "When the published record (SPF, DMARC, DKIM, MX, PTR names) last changed; "
            "0 until it changes after being first seen.",
            ["check", "target", "item"],
        )
        for key, state in sorted(snap.states.items()):
            if state.check not in (CheckName.DNSBL, CheckName.ZONE):
                # 0: not changed since first seen (a timestamp of 0 is never "recent")
                content.add_metric(
                    [state.check.value, state.target, state.item], snap.record_changed.get(key, 0)
                )
        lookups = _gauge(
            "delivermon_spf_dns_lookups", "DNS-querying SPF terms (limit 10).", ["domain"]
        )
        voids = _gauge("delivermon_spf_void_lookups", "SPF void lookups (limit 2).", ["domain"])
        ip_result = _gauge(
            "delivermon_spf_ip_result",
            "SPF result of each configured sending IP where receivers evaluate it (at the "
            "envelope domains when configured: pass at one of them); 1 for the current "
            "result, 0 the others.",
            ["domain", "ip", "result"],
        )
        dmarc = _gauge(
            "delivermon_dmarc_policy",
            "DMARC policy (none, quarantine, reject, missing); 1 for the current, 0 the others.",
            ["domain", "policy"],
        )
        dkim_bits = _gauge("delivermon_dkim_key_bits", "DKIM key size.", ["domain", "selector"])
        ptr = _gauge(
            "delivermon_ptr_forward_confirmed",
            "1 when the IP's PTR name resolves back to it (FCrDNS); absent when unknown.",
            ["ip"],
        )
        refused_zones: dict[str, bool] = {}
        zone_families: dict[str, list[bool]] = {}
        spf_states: dict[str, list[CheckState]] = {}  # domain -> its SPF and envelope SPF
        for state in snap.states.values():
            if state.check in (CheckName.SPF, CheckName.ENVELOPE_SPF):
                spf_states.setdefault(state.target, []).append(state)
            detail = state.detail_dict()
            if state.check is CheckName.DNSBL:
                self._dnsbl(state, scope, listed, listing, unknown)
                error = detail.get("error")
                refused_zones[state.item] = refused_zones.get(state.item, False) or (
                    error in RESOLVER_REFUSED_ERRORS
                )
            elif state.check is CheckName.ZONE:
                healthy = state.status == "healthy"
                family_healthy.add_metric([state.target, state.item], 1 if healthy else 0)
                zone_families.setdefault(state.target, []).append(healthy)
                if not healthy and detail.get("reason") in RESOLVER_REFUSED_ERRORS:
                    # The test points got the refusal: every sweep result is then
                    # zone_unhealthy, and only the self-test says why.
                    refused_zones[state.target] = True
            else:
                for value in RECORD_STATUSES:
                    status.add_metric(
                        [state.check.value, state.target, state.item, value],
                        1 if value == state.status else 0,
                    )
                if state.changed_at is not None:
                    changed.add_metric(
                        [state.check.value, state.target, state.item],
                        state.changed_at.timestamp(),
                    )
                self._auth(state, detail, lookups, voids, dmarc, dkim_bits, ptr)
        for domain, found in sorted(spf_states.items()):
            # Each IP's result, also from a run that hit a DNS error: temperror for the IPs
            # it left open, and the others as certain as ever (SPF stops at an error).
            envelopes = any(s.check is CheckName.ENVELOPE_SPF for s in found)
            results = sending_spf_results(found, envelopes=envelopes) or {}
            for ip, result in sorted(results.items()):
                for value in SPF_RESULTS:
                    ip_result.add_metric([domain, ip, value], 1 if value == result else 0)
        for zone, families in sorted(zone_families.items()):
            zone_healthy.add_metric([zone], 1 if all(families) else 0)
        # Every replica exports what its own answers said (each may ask its own resolver):
        # the zone's owner alone would hide a refusal met only in another's share.
        for zone, is_refused in sorted(refused_zones.items()):
            refused.add_metric([zone], 1 if is_refused else 0)
        for zone, (severity, early) in sorted(scope.zone_info.items()):
            zone_info.add_metric([zone, severity, "true" if early else "false"], 1)
        yield from (listed, listing, unknown, refused, zone_healthy, family_healthy, zone_info)
        yield status
        yield from (changed, content, lookups, voids, ip_result, dmarc, dkim_bits, ptr)

    @staticmethod
    def _dnsbl(
        state: CheckState,
        scope: Scope,
        listed: GaugeMetricFamily,
        listing: GaugeMetricFamily,
        unknown: GaugeMetricFamily,
    ) -> None:
        is_unknown = state.status == "unknown"
        unknown.add_metric([state.target, state.item], 1 if is_unknown else 0)
        if is_unknown:
            return
        is_listed = state.status == "listed"
        listed.add_metric([state.target, state.item], 1 if is_listed else 0)
        if is_listed:
            severity = state.severity or scope.zone_info.get(state.item, ("major", False))[0]
            listing.add_metric([state.target, state.item, severity], 1)

    @staticmethod
    def _auth(
        state: CheckState,
        detail: Mapping[str, object],
        lookups: GaugeMetricFamily,
        voids: GaugeMetricFamily,
        dmarc: GaugeMetricFamily,
        dkim_bits: GaugeMetricFamily,
        ptr: GaugeMetricFamily,
    ) -> None:
        if state.check is CheckName.SPF and state.status != "unknown":
            count = detail.get("dns_lookups")
            if isinstance(count, int):
                lookups.add_metric([state.target], count)
            void = detail.get("void_lookups")
            if isinstance(void, int):
                voids.add_metric([state.target], void)
        if state.check is CheckName.DMARC and state.status != "unknown":
            policy = str((detail.get("policy") if detail.get("record") else None) or "missing")
            for value in DMARC_POLICIES:
                dmarc.add_metric([state.target, value], 1 if value == policy else 0)
        elif state.check is CheckName.DKIM:
            bits = detail.get("key_bits")
            if isinstance(bits, int):
                dkim_bits.add_metric([state.target, state.item], bits)
        elif state.check is CheckName.PTR:
            confirmed = detail.get("forward_confirmed")
            if isinstance(confirmed, bool):
                ptr.add_metric([state.target], 1 if confirmed else 0)

    def _risk(self, risks: Mapping[str, RiskView]) -> Iterator[Metric]:
        score = _gauge(
            "delivermon_blacklist_risk_score",
            "Blacklist-risk score 0-100 (docs/risk.md).",
            ["target"],
        )
        level = _gauge(
            "delivermon_blacklist_risk_level",
            "Blacklist-risk level (ok, elevated, high, critical); 1 for the current, 0 the others.",
            ["target", "level"],
        )
        factor = _gauge(
            "delivermon_blacklist_risk_factor",
            "Points each factor adds to the risk score; absent while the factor is unknown.",
            ["target", "factor"],
        )
        unknown = _gauge(
            "delivermon_blacklist_risk_unknown_factors",
            "Factors whose inputs are unknown: the score is a lower bound while above 0.",
            ["target"],
        )
        complete = _gauge(
            "delivermon_blacklist_risk_complete",
            "1 once every check the score draws on has run for the target (it may alert).",
            ["target"],
        )
        unknown_listing = _gauge(
            "delivermon_blacklist_risk_unknown_listing",
            "1 while a list that could list the target cannot tell: a lower score then "
            "does not mean a listing ended.",
            ["target"],
        )
        lower_bound = _gauge(
            "delivermon_blacklist_risk_lower_bound",
            "1 while the score may be below the target's risk because a check cannot tell: "
            "a list that could list it, or a DNS check the score reads (SPF, DMARC, DKIM, "
            "FCrDNS).",
            ["target"],
        )
        for target, risk in sorted(risks.items()):
            score.add_metric([target], risk.score)
            for value in RISK_LEVELS:
                level.add_metric([target, value], 1 if value == risk.level else 0)
            unknown.add_metric([target], risk.unknown_factors)
            complete.add_metric([target], 1 if risk.complete else 0)
            unknown_listing.add_metric([target], 1 if risk.unknown_listing else 0)
            lower_bound.add_metric([target], 1 if risk.lower_bound else 0)
            for name, points in sorted(risk.factors.items()):
                if not math.isnan(points):
                    factor.add_metric([target, name], points)
        yield from (score, level, factor, unknown, complete, unknown_listing, lower_bound)

    @staticmethod
    def _bounces(snap: BounceSnapshot, held: Mapping[Hashable, float]) -> Iterator[Metric]:
        labels = ["campaign", "provider", "class"]
        bounces = CounterMetricFamily(
            "delivermon_bounces_classified",
            "Bounces by campaign, mailbox provider and the class of the receiver's reply.",
            labels=labels,
        )
        deferrals = CounterMetricFamily(
            "delivermon_deferrals_classified",
            "Deferrals (the sender retries) by campaign, provider and the reply's class.",
            labels=labels,
        )
        now = time.time()
        for (campaign, provider, cls), (b, d) in sorted(snap.lifetime.items()):
            # shown at 0 first (see NewSeriesHold)
            zero = held.get((campaign, provider, cls), 0.0) > now
            bounces.add_metric([campaign, provider, cls], 0 if zero else b)
            deferrals.add_metric([campaign, provider, cls], 0 if zero else d)
        yield bounces
        yield deferrals
        ratio = _gauge(
            "delivermon_bounce_class_ratio",
            "Bounces and deferrals of a class per delivery attempt over [bounces] window; "
            "absent below the volume guard.",
            [*labels, "window"],
        )
        for (campaign, provider, cls), value in sorted(snap.ratios.items()):
            ratio.add_metric([campaign, provider, cls, snap.window], value)
        yield ratio
        finding = _gauge(
            "delivermon_bounce_finding",
            "1 for each active bounce finding (docs/findings.md, bounce.*) over [bounces] window.",
            ["code", "provider", "blocklist", "sweep", "campaign"],
        )
        active = _gauge(
            "delivermon_bounce_findings",
            "Active bounce findings by code (0 when none).",
            ["code"],
        )
        per_code = dict.fromkeys(BOUNCE_FINDING_CODES, 0)
        for f in snap.findings:
            info = f.detail
            finding.add_metric(
                [
                    f.code,
                    str(info.get("provider") or ""),
                    str(info.get("blocklist") or ""),
                    str(info.get("sweep") or ""),
                    str(info.get("campaign") or ""),
                ],
                1,
            )
            per_code[f.code] = per_code.get(f.code, 0) + 1
        for code, n in sorted(per_code.items()):
            active.add_metric([code], n)
        yield finding
        yield active

    @staticmethod
    def _campaigns(snap: CampaignSnapshot, held: Mapping[Hashable, float]) -> Iterator[Metric]:
        names = {
            "sent": "Messages sent",
            "delivered": "Messages delivered",
            "complaints": "Spam complaints (feedback loops and ESP webhooks)",
            "unsubscribes": "Unsubscribes",
            "unsubscribe_violations": "Sends more than 48 h after the recipient opted out",
        }
        families = {
            key: CounterMetricFamily(
                f"delivermon_{key}",
                f"{doc}, by campaign and mailbox provider.",
                labels=["campaign", "provider"],
            )
            for key, doc in names.items()
        }
        bounces = CounterMetricFamily(
            "delivermon_bounces",
            "Bounces by campaign, mailbox provider and kind (permanent, transient, undetermined).",
            labels=["campaign", "provider", "kind"],
        )
        now = time.time()
        for row in snap.lifetime:
            labels = [row.campaign, row.provider]
            # A series new since start is shown at 0 first, so that rate() and
            # increase() count what it held when it appeared (see CampaignFigures).
            zero = held.get((row.campaign, row.provider), 0.0) > now
            totals = Totals() if zero else row.totals
            for key, family in families.items():
                family.add_metric(labels, getattr(totals, key))
            for kind in ("permanent", "transient", "undetermined"):
                bounces.add_metric([*labels, kind], getattr(totals, f"bounces_{kind}"))
        yield from families.values()
        yield bounces
        ratios = {
            "complaint": "Complaints per delivered message",
            "unsubscribe": "Unsubscribes per delivered message",
            "bounce": "Bounces per sent message",
        }
        for kind, doc in ratios.items():
            ratio = _gauge(
                f"delivermon_{kind}_ratio",
                f"{doc} over the window (1h, 24h, 7d, lifetime); absent below the volume guard.",
                ["campaign", "window"],
            )
            for (campaign, window), rates in sorted(snap.rates.items()):
                value = getattr(rates, f"{kind}_rate")
                if value is not None:
                    ratio.add_metric([campaign, window], value)
            yield ratio
            per_provider = _gauge(
                f"delivermon_{kind}_ratio_by_provider",
                f"{doc} per mailbox provider over the window; absent below the volume guard.",
                ["campaign", "provider", "window"],
            )
            for (campaign, provider, window), rates in sorted(snap.provider_rates.items()):
                value = getattr(rates, f"{kind}_rate")
                if value is not None:
                    per_provider.add_metric([campaign, provider, window], value)
            yield per_provider
        info = _gauge(
            "delivermon_campaign_info",
            "Category and consent basis of each campaign label; always 1.",
            ["campaign", "category", "consent"],
        )
        for campaign, (category, consent) in sorted(snap.info.items()):
            info.add_metric([campaign, category, consent], 1)
        yield info
        audit = CounterMetricFamily(
            "delivermon_one_click_audits",
            "Complained-about messages audited for one-click unsubscribe, by result.",
            labels=["campaign", "result"],
        )
        audited = set()
        for a in snap.audits:
            audited.add(a.campaign)
            if held.get(("audits", a.campaign), 0.0) > now:
                for result in AUDIT_RESULTS:
                    audit.add_metric([a.campaign, result], 0)
                continue
            audit.add_metric([a.campaign, "compliant"], a.one_click_compliant)
            audit.add_metric([a.campaign, "non_compliant"], a.audited - a.one_click_compliant)
            audit.add_metric([a.campaign, "not_audited"], a.complaint_reports - a.audited)
        for campaign in sorted({row.campaign for row in snap.lifetime} - audited):
            for result in AUDIT_RESULTS:  # no complaint report yet: 0, before the first
                audit.add_metric([campaign, result], 0)
        yield audit
        count = _gauge(
            "delivermon_campaigns",
            "Campaigns known, and how many are summed into _other.",
            ["set"],
        )
        count.add_metric(["all"], snap.campaigns_total)
        count.add_metric(["other"], snap.campaigns_other)
        yield count
