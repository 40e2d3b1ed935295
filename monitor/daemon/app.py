"""The composition root: ``Daemon`` builds every long-lived object once and runs them.

Store, pseudonymizer, metrics registry, resolvers, notifiers, scheduler and the HTTP
server are created here and passed down; nothing else creates them. ``run_daemon``
is what ``delivermon run`` calls: start, serve until SIGTERM/SIGINT, reload on
SIGHUP (and ``POST /-/reload``), then shut down gracefully: stop accepting, finish
in-flight requests and jobs, close the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from checks.dnsbl import parse_target
from checks.dnsbl.catalogue import Catalogue, load_catalogue
from monitor.alerting.notify import Route, build_notifiers
from monitor.alerting.outbox import OutboxSender, notification_from_payload
from monitor.alerting.rules import (
    RECORD_CHECKS,
    RISK_LEVELS,
    record_change_key,
    record_change_observation,
    risk_observation,
)
from monitor.checking.documents import JsonValue
from monitor.checking.report import target_document_from_states
from monitor.checking.states import CheckName
from monitor.config import Config, load_config, parse_duration
from monitor.daemon.jobs import CheckJobs, zones_in_use
from monitor.daemon.runtime import Runtime, build_runtime
from monitor.daemon.scheduler import Scheduler
from monitor.daemon.sharding import Shard
from monitor.http import daemon_api
from monitor.http.app import HttpDeps, build_app
from monitor.http.campaigns_api import RedactingAccessLogger
from monitor.http.daemon_api import ReloadOutcome
from monitor.ingest.imap import ImapPoller
from monitor.metrics.collector import DaemonView, Metrics, RiskView, hold_new_series
from monitor.model.alerts import (
    AlertKind,
    AlertRecord,
    AlertStatus,
    Observation,
    notification_payload,
    one_shot,
    retire,
    step,
)
from monitor.model.errors import ConfigError
from monitor.model.privacy import Pseudonymizer
from monitor.risk.campaigns import refresh_campaigns
from monitor.risk.inputs import DomainFigures, build_risk_inputs
from monitor.risk.score import score_risk
from monitor.store import SqlStore, open_store
from monitor.store.errors import StoreUnavailableError
from monitor.store.keyfile import pseudonymizer_for

__all__ = ["Daemon", "DaemonOptions", "run_daemon"]

log = logging.getLogger(__name__)

_CAMPAIGN_KINDS = (AlertKind.COMPLAINT_RATE, AlertKind.UNSUBSCRIBE_DEADLINE)
# The checks a risk score needs before it may alert (an incomplete score is unknown).
_RISK_NEEDS = {
    "ip": {CheckName.DNSBL, CheckName.PTR},
    "domain": {CheckName.DNSBL, CheckName.SPF, CheckName.DMARC},
}
_LISTING_FACTORS = frozenset(
    {"listing_critical", "listing_major", "listing_minor", "listing_info", "early_warning"}
)
# Changing these needs a restart: they are bound when the process starts.
_RESTART_KEYS = (("store", "url"), ("http", "listen"), ("http", "max_body_bytes"))


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    config_path: Path | None = None
    listen: str | None = None  # --listen overrides [http] listen
    shard: Shard | None = None  # --shard overrides [cluster] shard
    grace_seconds: float = 30.0


def _version() -> str:
    try:
        return metadata.version("delivermon")
    except metadata.PackageNotFoundError:
        return "unknown"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Daemon:
    """One daemon process; ``start()``, then ``stop()``. Jobs read ``runtime`` once per run."""

    def __init__(
        self,
        config: Config,
        options: DaemonOptions = DaemonOptions(),
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.clock = clock
        self.catalogue = catalogue or load_catalogue()
        self._runtime: Runtime | None = None
        self.view = DaemonView()
        self.metrics = Metrics(
            self.view, version=_version(), catalogue_version=self.catalogue.version
        )
        self.scheduler = Scheduler(on_error=self._job_failed)
        self.jobs = CheckJobs(self)
        self._store: SqlStore | None = None
        self._pseudonymizer: Pseudonymizer | None = None
        self._session: aiohttp.ClientSession | None = None
        self._routes: dict[str, Route] = {}
        self._runner: web.AppRunner | None = None
        self._deps: HttpDeps | None = None
        self._reload_lock = asyncio.Lock()
        self._alerts_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._imap: ImapPoller | None = None
        self.figures: dict[str, DomainFigures] = {}
        self._first_campaign_run = True
        self.listen_port: int | None = None

    # --- properties the jobs use -------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None, "the daemon is not started"
        return self._runtime

    @property
    def store(self) -> SqlStore:
        assert self._store is not None, "the daemon is not started"
        return self._store

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open everything, load the last known state, start jobs and the HTTP server.

        Raises:
            ConfigError: the config cannot run (a keyed zone without its key, a bad key file).
            StoreUnavailableError: the store cannot be opened.
        """
        config = self.config
        self._runtime = build_runtime(config, self.catalogue, self.options.shard)
        self._pseudonymizer = pseudonymizer_for(config.store.url, config.privacy.pseudonym_key)
        self._store = await open_store(config.store.url)
        await self._runtime.open()
        self._session = aiohttp.ClientSession()
        self._routes = self._build_notifiers(config)
        self._imap = self._build_imap(config)
        await self._load_state()
        await self._retire_unwatched()
        self._install_jobs()
        self.view.jobs = self.scheduler.statuses
        self.view.reload_ok, self.view.reload_at = True, time.time()
        await self._start_http()
        self.scheduler.start()
        log.info(
            "daemon started",
            extra={
                "targets": len(self.runtime.plan.targets),
                "shard": str(self.runtime.plan.shard),
                "listen": self._listen(config),
            },
        )

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests and jobs, close the store.

        One deadline (``grace_seconds``) covers the HTTP requests and the jobs together.
        """
        deadline = time.monotonic() + self.options.grace_seconds
        if self._runner is not None:
            await self._runner.cleanup()  # stops the site, waits for in-flight handlers
            self._runner = None
        await self.scheduler.stop(grace=max(1.0, deadline - time.monotonic()))
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runtime is not None:
            await self._runtime.close()
        if self._store is not None:
            await self._store.close()
        log.info("daemon stopped")

    # --- config reload ------------------------------------------------------------------

    async def reload(self) -> ReloadOutcome:
        """Validate the config file, then swap atomically; a failed reload keeps the old one."""
        async with self._reload_lock:
            path = self.options.config_path
            try:
                if path is None:
                    raise ConfigError(["no config file to reload (started without --config)"])
                config = load_config(path)
                runtime = build_runtime(config, self.catalogue, self.options.shard)
                notifiers = self._build_notifiers(config)
                imap = self._build_imap(config)
            except ConfigError as exc:
                self.view.reload_ok = False
                self.metrics.config_reloads.labels("failure").inc()
                log.error(
                    "config reload failed; keeping the running config",
                    extra={"problems": exc.problems},
                )
                return ReloadOutcome(False, tuple(exc.problems))
            restart = tuple(
                f"{section}.{key}"
                for section, key in _RESTART_KEYS
                if getattr(getattr(config, section), key)
                != getattr(getattr(self.config, section), key)
            )
            try:
                # Store writes first: if the store fails, nothing has been swapped yet.
                for campaign in config.campaigns:
                    await self.store.upsert_campaign(
                        campaign.id,
                        category=campaign.category,
                        consent=campaign.consent,
                        sending_domain=campaign.sending_domain,
                    )
                await runtime.open()
            except Exception as exc:  # the reload boundary: report it, keep the old config
                await runtime.close()
                self.view.reload_ok = False
                self.metrics.config_reloads.labels("failure").inc()
                log.exception("config reload failed; keeping the running config")
                return ReloadOutcome(False, (f"{type(exc).__name__}: {exc}",))
            old = self._runtime
            running = self.scheduler.in_flight()  # they may hold the old runtime
            self.config, self._runtime = config, runtime
            self._routes, self._imap = notifiers, imap
            if self._deps is not None:
                self._deps.config = config
            self._prune_view()
            self._install_jobs()
            if old is not None:
                self._background(self._close_when_idle(old, running))
            try:
                await self._retire_unwatched()
            except Exception:  # the new config is live; retiring is retried at the next reload
                log.exception("could not retire the alerts of unwatched targets")
            self.view.reload_ok, self.view.reload_at = True, time.time()
            self.metrics.config_reloads.labels("success").inc()
            log.info("config reloaded", extra={"restart_required": list(restart)})
            for name in ("selftest", "sweep", "auth"):
                self.scheduler.run_soon(name)
            return ReloadOutcome(True, (), restart)

    # --- what the jobs call --------------------------------------------------------------

    async def apply_alerts(
        self,
        observations: Sequence[Observation],
        one_shots: Sequence[tuple[Observation, dt.datetime]] = (),
        *,
        baseline_allowed: bool = True,
    ) -> None:
        """Step each alert and queue its announcements in the outbox, in one transaction.

        ``baseline_allowed``: a first observation of a key may be a pre-existing
        state (recorded, not announced); False when it cannot be (see ``step``).
        """
        if not observations and not one_shots:
            return
        async with self._alerts_lock:  # jobs step shared keys (auth and drift): one at a time
            await self._apply_alerts(observations, one_shots, baseline_allowed=baseline_allowed)

    async def _apply_alerts(
        self,
        observations: Sequence[Observation],
        one_shots: Sequence[tuple[Observation, dt.datetime]],
        *,
        baseline_allowed: bool,
    ) -> None:
        now = self.clock()
        policy = self.runtime.alert_policy
        prev = await self.store.load_alerts([o.key for o in observations])
        records = []
        announcements = []
        for obs in observations:
            transition = step(
                prev.get(obs.key), obs, now, policy, baseline_allowed=baseline_allowed
            )
            if transition.record is None:
                continue
            records.append(transition.record)
            if transition.announce is not None:
                announcements.append(self._announcement(transition.record, transition.announce))
        for obs, at in one_shots:
            record = one_shot(obs, now, at)
            records.append(record)
            announcements.append(self._announcement(record, AlertStatus.FIRING))
        queued = await self.store.save_alerts(records, announcements, now=now)
        for key, status, _payload, names in announcements:
            log.info("alert", extra={"key": key, "status": status, "notifiers": list(names)})
        if queued:
            self.scheduler.run_soon("notify")

    async def announce_record_changes(self) -> None:
        """Announce each change of a published record once, from the stored history.

        The history is written in the transaction that stores the new state, so a
        crash before the announcement is queued leaves a change newer than its alert
        record, and the next run announces it: nothing is lost, nothing is sent twice.
        """
        owned = {t.text for t in self.runtime.plan.targets}
        changed = {
            key: at
            for key, at in self.view.record_changed.items()
            if key[0] in owned and CheckName(key[1]) in RECORD_CHECKS
        }
        if not changed:
            return
        keys = {record_change_key(*key): key for key in changed}
        announced = await self.store.load_alerts(list(keys))
        due = []
        for alert_key, key in keys.items():
            record = announced.get(alert_key)
            at = dt.datetime.fromtimestamp(changed[key], dt.UTC)
            if record is not None and record.started_at is not None and record.started_at >= at:
                continue
            state = self.view.states.get(key)
            if state is not None:
                due.append((record_change_observation(state), at))
        await self.apply_alerts((), due)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_when_idle(self, old: Runtime, running: set[asyncio.Task[None]]) -> None:
        """Close a replaced runtime once the job runs that may still use it have ended."""
        if running:
            await asyncio.wait(running)
        await old.close()

    def _announcement(
        self, record: AlertRecord, status: AlertStatus
    ) -> tuple[str, str, str, tuple[str, ...]]:
        """The outbox entry: the payload and the notifiers whose routes want it."""
        payload = notification_payload(record, status)
        notification = notification_from_payload(payload)
        names = tuple(name for name, route in self._routes.items() if route.accepts(notification))
        return (record.key, status.value, payload, names)

    def refresh_risk(self) -> None:
        """Score every target of this replica from the view (no I/O)."""
        rt = self.runtime
        zones = rt.plan.zone_by_id()
        by_target: dict[str, list] = {}  # type: ignore[type-arg]
        spf_states = []
        for state in self.view.states.values():
            by_target.setdefault(state.target, []).append(state)
            if state.check is CheckName.SPF:
                spf_states.append(state)
        domains_of_ip: dict[str, set[str]] = {}
        for domain in rt.config.domains:
            for ip in domain.sending_ips:
                domains_of_ip.setdefault(ip, set()).add(domain.name)
        risk: dict[str, RiskView] = {}
        for target in rt.plan.targets:
            inputs = build_risk_inputs(
                target.text,
                target.kind.value,
                by_target.get(target.text, []),
                zones=zones,
                figures=self.figures.get(target.text),
                spf_for_ip=[
                    s for s in spf_states if s.target in domains_of_ip.get(target.text, ())
                ],
            )
            scored = score_risk(inputs)
            seen = {s.check for s in by_target.get(target.text, [])}
            needed = _RISK_NEEDS[target.kind.value] - (
                set() if rt.plan.zones else {CheckName.DNSBL}
            )
            risk[target.text] = RiskView(
                scored.score,
                scored.level.value,
                {f.value: scored.value(f) for f in (x.name for x in scored.factors)},
                complete=needed <= seen,
                unknown_factors=len(scored.unknown),
                unknown_listing=any(f.value in _LISTING_FACTORS for f in scored.unknown),
            )
        self.view.risk = risk

    # --- HTTP-facing ----------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, Mapping[str, JsonValue]]:
        components: dict[str, JsonValue] = {}
        ready = True
        try:
            await self.store.ping()
            components["store"] = {"ok": True}
        except Exception as exc:  # readiness reports any store failure, it never raises
            components["store"] = {"ok": False, "error": type(exc).__name__}
            ready = False
        running = self.scheduler.running
        components["scheduler"] = {"ok": running}
        ready &= running
        health = list(self.jobs.health.values())
        if self.runtime.plan.targets:
            in_use = bool(zones_in_use(self.runtime))
            resolver_ok = not in_use or (bool(health) and any(h.healthy for h in health))
            components["resolver"] = {
                "ok": resolver_ok,
                "zones_healthy": sum(1 for h in health if h.healthy),
                "zones_tested": len(health),
            }
            ready &= resolver_ok
            sweep = self.scheduler.status("sweep")
            interval = parse_duration(self.config.dnsbl.interval)
            last = sweep.last_success if sweep else None
            age = None if last is None else time.time() - last
            fresh = age is not None and age <= 2 * interval
            components["last_sweep"] = {
                "ok": fresh,
                "age_seconds": None if age is None else round(age, 1),
                "max_age_seconds": 2 * interval,
            }
            ready &= fresh
        return ready, components

    async def target_documents(self, target: str | None) -> list[dict[str, JsonValue]]:
        """Latest results from the store (every replica's share), one document per target."""
        rt = self.runtime
        wanted = sorted(rt.plan.all_targets) if target is None else [target]
        wanted = [t for t in wanted if t in rt.plan.all_targets]
        if not wanted:
            return []
        states = await self.store.latest_states(targets=wanted)
        zone_ids = [z.id for z in rt.plan.zones]
        by_target: dict[str, list] = {}  # type: ignore[type-arg]
        for state in states:
            by_target.setdefault(state.target, []).append(state)
        docs = []
        for name in wanted:
            doc = target_document_from_states(
                name,
                parse_target(name).kind,
                by_target.get(name, []),
                zones=zone_ids,
                plan=rt.plan.all_domains.get(name),
            )
            risk = self.view.risk.get(name)
            if risk is not None:
                doc["risk"] = {"score": risk.score, "level": risk.level}
            docs.append(doc)
        return docs

    # --- internals ------------------------------------------------------------------------

    def _listen(self, config: Config) -> str:
        return self.options.listen or config.http.listen

    async def _start_http(self) -> None:
        assert self._store is not None
        assert self._pseudonymizer is not None
        self._deps = HttpDeps(self.config, self._store, self._pseudonymizer, self.clock)
        app = build_app(
            self._deps, middlewares=[daemon_api.ingest_metrics_middleware(self.metrics)]
        )
        daemon_api.add_routes(app, self)
        self._runner = web.AppRunner(
            app,
            access_log_class=RedactingAccessLogger,
            shutdown_timeout=self.options.grace_seconds / 2,
        )
        await self._runner.setup()
        host, _, port = self._listen(self.config).rpartition(":")
        site = web.TCPSite(self._runner, host.strip("[]"), int(port))
        await site.start()
        server = site._server  # the bound port when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        self.listen_port = sockets[0].getsockname()[1] if sockets else int(port)

    async def _load_state(self) -> None:
        """Load this replica's last known states and runs, so metrics show them at once."""
        rt = self.runtime
        owned = {t.text for t in rt.plan.targets}
        zones = {z.id for z in rt.plan.zones if rt.plan.shard.owns(f"zone:{z.id}")}
        for state in await self.store.latest_states(targets=owned | zones):
            if state.check is CheckName.ZONE and state.target not in zones:
                continue
            self.view.states[state.key] = state
        for key, at in (await self.store.last_record_changes()).items():
            if key[0] in owned:
                self.view.record_changed[key] = at.timestamp()
        for run in await self.store.check_runs():
            if run.target in owned:
                self.view.runs[(run.check, run.target)] = run
        self._prune_view()
        self.refresh_risk()

    def _prune_view(self) -> None:
        rt = self.runtime
        owned = {t.text for t in rt.plan.targets}
        zone_ids = {z.id for z in rt.plan.zones}
        self.view.states = {
            k: s
            for k, s in self.view.states.items()
            if (s.target in zone_ids if s.check is CheckName.ZONE else s.target in owned)
            and (s.check is not CheckName.DNSBL or s.item in zone_ids)
        }
        self.view.runs = {k: r for k, r in self.view.runs.items() if r.target in owned}
        self.view.targets = rt.plan.kinds
        self.view.shard = (rt.plan.shard.index, rt.plan.shard.count)
        self.view.zone_info = {z.id: (z.severity.value, z.early_warning) for z in rt.plan.zones}

    def _install_jobs(self) -> None:
        config = self.config
        s = config.schedule
        jitter = s.jitter

        def add(name: str, func: Callable[[], object], interval: str) -> None:
            seconds = parse_duration(interval)
            self.scheduler.add(name, func, interval=seconds, jitter=seconds * jitter)  # type: ignore[arg-type]

        add("selftest", self.jobs.selftest, s.selftest_interval)
        add("sweep", self.jobs.sweep, config.dnsbl.interval)
        add("auth", self.jobs.auth, s.auth_interval)
        add("drift", self.jobs.drift, s.drift_interval)
        add("campaigns", self._campaigns_job, s.metrics_interval)
        add("notify", self._notify_job, s.notify_interval)
        add("purge", self._purge_job, s.purge_interval)
        if self._imap is not None and config.imap is not None:
            add("imap", self._imap_job, config.imap.interval)
        else:
            self.scheduler.remove("imap")

    async def _campaigns_job(self) -> None:
        rt = self.runtime
        snapshot, figures, observations = await refresh_campaigns(self.store, rt, now=self.clock())
        hold_new_series(self.view, snapshot, parse_duration(rt.config.metrics.new_series_hold))
        self.view.campaigns = snapshot
        self.figures = figures
        self.view.outbox_pending = (await self.store.outbox_counts())["pending"]
        observations = [*observations, *await self._quiet_campaigns(observations)]
        # Only the first evaluation after start can meet a pre-existing state; a
        # campaign that appears later and crosses a line at once is news.
        await self.apply_alerts(observations, baseline_allowed=self._first_campaign_run)
        self._first_campaign_run = False
        self.refresh_risk()
        threshold = rt.config.alerts.risk_level
        await self.apply_alerts(
            [
                risk_observation(t, r.score, _risk_level(r, threshold), threshold)
                for t, r in self.view.risk.items()
            ]
        )

    async def _quiet_campaigns(self, observed: Sequence[Observation]) -> list[Observation]:
        """Firing campaign alerts of campaigns with no traffic in the window: clear now.

        Without this, a campaign that stopped sending would keep its alert firing,
        and its next spike would not be announced.
        """
        seen = {o.key for o in observed}
        window = self.config.alerts.complaint_window
        quiet = []
        for record in await self.store.firing_alerts(_CAMPAIGN_KINDS):
            campaign = record.labels.get("campaign", "")
            if record.key in seen or not self.runtime.plan.shard.owns(f"campaign:{campaign}"):
                continue
            quiet.append(
                Observation(
                    key=record.key,
                    kind=record.kind,
                    active=False,
                    severity=record.severity,
                    labels=record.labels,
                    title=record.title,
                    resolved_title=f"Campaign {campaign}: no traffic in the last {window}",
                )
            )
        return quiet

    async def _retire_unwatched(self) -> None:
        """Resolve alerts, and forget states, of targets and zones no longer configured."""
        rt = self.runtime
        zone_ids = {z.id for z in rt.plan.zones}
        now = self.clock()
        records = []
        announcements = []
        for record in await self.store.firing_alerts():
            if record.kind in _CAMPAIGN_KINDS:
                continue
            target = record.labels.get("target")
            zone = record.labels.get("zone")
            gone = None
            if target and target not in rt.plan.all_targets and rt.plan.shard.owns(target):
                gone = f"{target} removed from the config"
            elif zone and zone not in zone_ids and rt.plan.shard.owns(f"zone:{zone}"):
                gone = f"zone {zone} removed from the config"
            if gone is None:
                continue
            transition = retire(record, now, gone)
            assert transition.record is not None
            records.append(transition.record)
            if transition.announce is not None:
                announcements.append(self._announcement(transition.record, transition.announce))
        if records:
            await self.store.save_alerts(records, announcements, now=now)
            log.info("alerts of unwatched targets retired", extra={"count": len(records)})
        checks = [c for c in CheckName if c is not CheckName.ZONE]
        await self.store.forget_states(rt.plan.all_targets, checks)
        await self.store.forget_states(zone_ids, [CheckName.ZONE])

    async def _notify_job(self) -> None:
        sender = OutboxSender(
            self.store, self._routes, self.metrics.count_notification, clock=self.clock
        )
        await sender.send_due()
        self.view.outbox_pending = (await self.store.outbox_counts())["pending"]

    async def _purge_job(self) -> None:
        now = self.clock()
        result = await self.store.purge(now - dt.timedelta(days=self.config.privacy.retention_days))
        sent = await self.store.purge_outbox(now - dt.timedelta(days=30))
        log.info(
            "retention purge",
            extra={"events": result.events, "reports": result.reports, "notifications": sent},
        )

    async def _imap_job(self) -> None:
        poller = self._imap
        if poller is None:
            return
        result = await poller.poll_once()
        accepted = result.stored + result.duplicates
        if accepted:
            self.metrics.ingest_accepted.labels("imap").inc(accepted)
        if result.refused:
            self.metrics.ingest_refused.labels("imap", "unprocessable").inc(result.refused)
        if result.errors:
            self.metrics.errors.labels("imap", "message_failed").inc(result.errors)

    def _build_notifiers(self, config: Config) -> dict[str, Route]:
        if not config.notify:
            return {}
        assert self._session is not None
        return {r.notifier.name: r for r in build_notifiers(config.notify, self._session)}

    def _build_imap(self, config: Config) -> ImapPoller | None:
        if config.imap is None:
            return None
        assert self._store is not None
        assert self._pseudonymizer is not None
        return ImapPoller(
            config.imap,
            store=self._store,
            pseudonymizer=self._pseudonymizer,
            campaign_headers=config.feedback.campaign_headers,
            store_raw=config.privacy.store_raw,
            clock=self.clock,
        )

    def _job_failed(self, job: str, exc: BaseException) -> None:
        self.metrics.errors.labels(f"job_{job}", type(exc).__name__).inc()


def _risk_level(risk: RiskView, threshold: str) -> str | None:
    """The level to alert on, or None (unknown) when it cannot be told.

    Before every needed check has run, or when a listing is unknown (a zone that
    listed the target now times out) and the known part is below the threshold:
    a lower bound must not read as all clear.
    """
    if not risk.complete:
        return None
    below = RISK_LEVELS.index(risk.level) < RISK_LEVELS.index(threshold)
    if below and risk.unknown_listing:
        return None
    return risk.level


async def run_daemon(config: Config, options: DaemonOptions) -> int:
    """Run until SIGTERM or SIGINT; SIGHUP reloads. Returns the exit status.

    0 after a clean shutdown; 1 when it cannot start (store unreachable, address in
    use); a ConfigError propagates (the CLI exits 2 and lists the problems).
    """
    daemon = Daemon(config, options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[ReloadOutcome]] = set()

    def reloaded(task: asyncio.Task[ReloadOutcome]) -> None:
        reloads.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIGHUP reload failed", exc_info=task.exception())

    def on_hup() -> None:
        task = loop.create_task(daemon.reload())
        reloads.add(task)
        task.add_done_callback(reloaded)

    try:
        await daemon.start()
    except (StoreUnavailableError, OSError) as exc:
        # Expected start-up failures (database down, port taken) get one clear line.
        log.error("cannot start: %s", exc)
        await daemon.stop()
        return 1
    except BaseException:
        await daemon.stop()
        raise
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await daemon.stop()
    return 0
