"""The composition root: ``Daemon`` builds every long-lived object once, wires them, and
starts and stops them. Behaviour lives in the services it builds (see
``monitor.daemon.services``); this module only wires, reloads and shuts down.

``run_daemon`` is what ``delivermon run`` calls: start, serve until SIGTERM/SIGINT,
reload on SIGHUP (and ``POST /-/reload``), then shut down gracefully: stop accepting,
finish in-flight requests and jobs, close the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from checks.dnsbl.catalogue import Catalogue, load_catalogue
from checks.dnsbl.verdict import unknown_reasons
from monitor.alerting.notify import Route
from monitor.alerting.outbox import Outbox
from monitor.alerting.service import AlertService
from monitor.checking.cache import StateCache
from monitor.checking.sharding import Shard
from monitor.checking.states import CheckName, CheckState
from monitor.checking.table import watched_items
from monitor.config import Config, load_config, with_nameservers
from monitor.daemon.checkjobs import AuthJobs, DnsblJobs, zones_to_test
from monitor.daemon.dmarcjobs import DmarcJobs
from monitor.daemon.feedbackjobs import FeedbackJobs
from monitor.daemon.jobs import JOBS, ignored_here, install_jobs
from monitor.daemon.logs import LogSetup, event_loop_name
from monitor.daemon.queries import Readiness, TargetQuery
from monitor.daemon.runtime import Runtime, RuntimeHolder, build_runtime
from monitor.daemon.scheduler import Scheduler
from monitor.daemon.services import Services
from monitor.daemon.settings import Settings, build_settings, restart_required
from monitor.daemon.telemetryjobs import TelemetryJobs
from monitor.http import system
from monitor.http.context import HttpContext
from monitor.http.routes import build_app
from monitor.http.subjects_api import RedactingAccessLogger
from monitor.http.system import ReloadOutcome, SystemServices
from monitor.http.table import DAEMON_ROUTES
from monitor.ingest.imap import PollResult
from monitor.metrics.collector import (
    JOB_ERROR_REASONS,
    Metrics,
    MetricsSources,
    ReloadStatus,
    Scope,
)
from monitor.model.errors import ConfigError, MonitorError
from monitor.model.privacy import Pseudonymizer
from monitor.risk.bounces import BounceFigures
from monitor.risk.campaigns import CampaignFigures
from monitor.risk.inputs import sending_spf_results
from monitor.risk.scorer import RiskScorer
from monitor.signals import release_sighup, take_held_sighup
from monitor.store import SqlStore, open_store
from monitor.store.engine import is_unavailable
from monitor.store.errors import StoreUnavailableError
from monitor.store.keyfile import check_store_key, store_key
from monitor.telemetry.views import TelemetryView

__all__ = ["Daemon", "DaemonOptions", "register_configured_campaigns", "run_daemon"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    config_path: Path | None = None
    listen: str | None = None  # --listen overrides [http] listen
    shard: Shard | None = None  # --shard overrides [cluster] shard
    nameservers: tuple[str, ...] = ()  # --nameserver overrides [dns]/[auth_dns] nameservers
    grace_seconds: float = 30.0
    logs: LogSetup | None = None  # the process's logging: [log] is applied on each reload


def _version() -> str:
    try:
        return metadata.version("delivermon")
    except metadata.PackageNotFoundError:
        return "unknown"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Daemon:
    """One daemon process; ``start()``, then ``stop()``."""

    def __init__(
        self,
        config: Config,
        options: DaemonOptions = DaemonOptions(),
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.config = config  # the running config (swapped on reload)
        self._started_config = config  # what the restart-only keys were bound to
        self.options = options
        self.clock = clock
        self.catalogue = catalogue or load_catalogue()
        self.runtime = RuntimeHolder()
        self.states = StateCache()
        self.risk = RiskScorer()
        self._foreign_spf: Mapping[str, Mapping[str, object]] = {}  # load_foreign_spf
        self.scheduler = Scheduler(on_error=self._job_failed)
        self._reload_status = ReloadStatus()
        self._services: Services | None = None
        self.metrics = Metrics(
            MetricsSources(
                states=self.states.snapshot,
                risk=self.risk.snapshot,
                campaigns=lambda: self._services.campaigns.snapshot() if self._services else None,
                held_campaigns=lambda: self._services.campaigns.held() if self._services else {},
                held_bounces=lambda: self._services.bounces.held() if self._services else {},
                held_dmarc=lambda: self._services.dmarc.held() if self._services else {},
                bounces=lambda: self._services.bounces.snapshot() if self._services else None,
                jobs=self.scheduler.statuses,
                scope=self._scope,
                outbox_pending=lambda: self._services.outbox.pending() if self._services else 0,
                reload=lambda: self._reload_status,
                telemetry=lambda: (
                    self._services.telemetry.view() if self._services else TelemetryView()
                ),
                dmarc=lambda: self._services.dmarc.snapshot() if self._services else None,
            ),
            version=_version(),
            catalogue_version=self.catalogue.version,
        )
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        # start() finished, or a signal cancelled it: "daemon stopped" is said only then,
        # not after a start that failed (a config problem: the daemon never ran).
        self._started = False
        self._reload_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.listen_port: int | None = None

    @property
    def services(self) -> Services:
        assert self._services is not None, "the daemon is not started"
        return self._services

    @property
    def store(self) -> SqlStore:
        return self.services.store

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the settings, open the store, load the last known state, start jobs and HTTP.

        Raises:
            ConfigError: the config cannot run (a keyed zone without its key, a bad key file).
            StoreUnavailableError: the store cannot be opened.
        """
        try:
            await self._start()
        except asyncio.CancelledError:
            self._started = True  # stopped by a signal while starting: a stop, said so
            raise

    async def _start(self) -> None:
        if self.options.logs is not None:
            self.options.logs.apply(self.config.log.level, self.config.log.format)
        self._session = aiohttp.ClientSession()
        settings = build_settings(self.config, catalogue=self.catalogue, session=self._session)
        privacy = self.config.privacy
        key = store_key(self.config.store.url, privacy.pseudonym_key)
        pseudonymizer = key.pseudonymizer
        store = await open_store(self.config.store.url)
        try:
            await check_store_key(store, key, self.clock())
            runtime = build_runtime(settings, self.options.shard)
            await runtime.open()
        except BaseException:
            await store.close()
            raise
        self.runtime.swap(runtime)
        self._services = self._build_services(store, pseudonymizer)
        await register_configured_campaigns(store, self.config)
        await self.services.telemetry.load()
        await self.services.dmarc.load()
        await self._load_state()
        await self._retire_unwatched()
        await self._release_claims(runtime.plan.shard)
        install_jobs(self.scheduler, self.services, self.config, runtime.plan.shard)
        self._expect_series(runtime)
        self._reload_status = ReloadStatus(True, time.time())
        await self._start_http(settings, pseudonymizer)
        self.scheduler.start()
        self._started = True
        log.info("config loaded", extra=_config_summary(self.options.config_path, runtime))
        _warn_ignored(self.config, runtime.plan.shard)
        log.info(
            "daemon started",
            extra={
                "version": _version(),
                "event_loop": event_loop_name(),
                "targets": len(runtime.plan.targets),
                "shard": str(runtime.plan.shard),
                "listen": self._listen(self.config),
            },
        )

    async def _release_claims(self, shard: Shard) -> None:
        """A single replica finding outbox rows claimed finds its killed predecessor's: they
        are sent now, not after their lease. With several replicas a claim may be a live
        one's, so there the lease decides (docs/reliability.md)."""
        if shard.count != 1:
            return
        released = await self.store.release_claims()
        if released:
            log.warning(
                "notifications claimed by a previous run are due again",
                extra={"count": released},
            )

    def _build_services(self, store: SqlStore, pseudonymizer: Pseudonymizer) -> Services:
        runtime = self.runtime
        alerts = AlertService(
            store,
            clock=self.clock,
            routes=self._routes,
            policy=lambda: runtime.current.settings.alert_policy,
            on_queued=lambda: self.scheduler.run_soon("notify"),
        )
        outbox = Outbox(
            store,
            routes=self._routes,
            on_outcome=self.metrics.count_notification,
            clock=self.clock,
        )
        campaigns = CampaignFigures(store)
        bounces = BounceFigures(store)
        return Services(
            runtime=runtime,
            store=store,
            states=self.states,
            alerts=alerts,
            risk=self.risk,
            campaigns=campaigns,
            bounces=bounces,
            outbox=outbox,
            dnsbl=DnsblJobs(
                runtime,
                store,
                self.states,
                alerts,
                clock=self.clock,
                on_checked=self.refresh_risk,
                count_unknown=self.metrics.count_dnsbl_unknown,
            ),
            auth=AuthJobs(
                runtime, store, self.states, alerts, clock=self.clock, on_checked=self.refresh_risk
            ),
            dmarc=DmarcJobs(runtime, store, clock=self.clock),
            feedback=FeedbackJobs(
                runtime,
                store,
                campaigns,
                bounces,
                self.states,
                alerts,
                self.risk,
                outbox,
                pseudonymizer=pseudonymizer,
                refresh_risk=self.refresh_risk,
                load_foreign_spf=self.load_foreign_spf,
                clock=self.clock,
                count_poll=self._count_poll,
            ),
            telemetry=TelemetryJobs(
                runtime,
                store,
                alerts,
                session=self._client_session,
                refresh_risk=self.refresh_risk,
                clock=self.clock,
                count_failure=self.metrics.count_telemetry_failure,
            ),
        )

    def _client_session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

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
        if self.runtime.started:
            await self.runtime.current.close()
        if self._services is not None:
            self._services.feedback.close()
            await self._services.store.close()
        if self._started:
            log.info("daemon stopped")

    # --- config reload ------------------------------------------------------------------

    async def reload(self) -> ReloadOutcome:
        """Validate and build everything from the config file, then swap atomically.

        A failed reload keeps the old config and is visible in a metric. Restart-only
        keys keep their running value and the outcome names them.
        """
        async with self._reload_lock:
            old = self.runtime.current
            try:
                path = self.options.config_path
                if path is None:
                    raise ConfigError(["no config file to reload (started without --config)"])
                config = with_nameservers(load_config(path), self.options.nameservers)
                assert self._session is not None
                settings = build_settings(config, catalogue=self.catalogue, session=self._session)
                runtime = build_runtime(settings, self.options.shard)
            except ConfigError as exc:
                return self._reload_failed(exc.problems)
            # Against what the process started with, not the last reload: a change still
            # waiting for a restart is named again by every reload until then.
            restart = restart_required(self._started_config, config)
            if self.options.listen is not None:
                # --listen replaces [http] listen across reloads: the file's value is moot.
                restart = tuple(key for key in restart if key != "http.listen")
            try:
                # Store writes first: if the store fails, nothing has been swapped yet.
                await register_configured_campaigns(self.store, config)
                await runtime.open()
            except Exception as exc:  # the reload boundary: report it, keep the old config
                await runtime.close()
                if isinstance(exc, StoreUnavailableError):  # expected: no traceback
                    log.warning("config reload: the store is unavailable (%s)", exc)
                else:
                    log.exception("config reload failed; keeping the running config")
                return self._reload_failed((f"{type(exc).__name__}: {exc}",))
            running = self.scheduler.in_flight()  # they may hold the old runtime
            try:
                # The last step that can fail, before anything is swapped. No await between
                # it and the swap: a job it starts at once runs on the new runtime.
                install_jobs(self.scheduler, self.services, config, runtime.plan.shard)
            except Exception as exc:  # the reload boundary: report it, keep the old config
                self._restore_jobs(old)
                await runtime.close()
                log.exception("config reload failed; keeping the running config")
                return self._reload_failed(
                    (f"cannot schedule the jobs: {type(exc).__name__}: {exc}",)
                )
            self.config = config
            if self.options.logs is not None:
                self.options.logs.apply(config.log.level, config.log.format)
            self.runtime.swap(runtime)
            self.states.retain(
                targets=runtime.plan.owned,
                zones=_zone_ids(runtime),
                items=_watched_items(runtime),
            )
            try:
                await self.services.telemetry.load()  # the domains and IPs it covers changed
            except Exception:  # the store is down: the next import rebuilds the view
                log.exception("could not reload the telemetry view")
            self._expect_series(runtime)
            self._background(self._close_when_idle(old, running))
            try:
                await self._retire_unwatched()
            except Exception as exc:  # the new config is live; retried at the next reload
                if isinstance(exc, StoreUnavailableError) or is_unavailable(exc):
                    log.warning(
                        "could not retire the alerts of unwatched targets: store unavailable"
                    )
                else:
                    log.exception("could not retire the alerts of unwatched targets")
            self._reload_status = ReloadStatus(True, time.time())
            self.metrics.config_reloads.labels("success").inc()
            log.info(
                "config reloaded",
                extra={
                    **_config_summary(path, runtime),
                    "restart_required": list(restart),
                },
            )
            _warn_ignored(config, runtime.plan.shard)
            for spec in JOBS:
                if spec.after_reload:
                    self.scheduler.run_soon(spec.name)
            return ReloadOutcome(True, (), restart)

    def _restore_jobs(self, running: Runtime) -> None:
        """Put back the jobs of the running config after installing another's failed part way
        (``install_jobs`` removes jobs last, so the ones it already changed are re-added)."""
        try:
            install_jobs(self.scheduler, self.services, self.config, running.plan.shard)
        except Exception:  # they installed at start or at the last reload; log and go on
            log.exception("could not restore the jobs of the running config")

    def _reload_failed(self, problems: tuple[str, ...]) -> ReloadOutcome:
        self._reload_status = ReloadStatus(False, self._reload_status.at)
        self.metrics.config_reloads.labels("failure").inc()
        log.error("config reload failed; keeping the running config", extra={"problems": problems})
        return ReloadOutcome(False, tuple(problems))

    # --- wiring helpers -------------------------------------------------------------------

    def refresh_risk(self) -> None:
        """Score every target of this replica from the state cache (no I/O)."""
        figures = self._services.campaigns.figures() if self._services else {}
        telemetry = self._services.telemetry.view() if self._services else None
        self.risk.refresh(
            self.runtime.current.plan,
            self.states.snapshot(),
            figures,
            telemetry,
            foreign_spf=self._foreign_spf,
        )

    async def load_foreign_spf(self) -> None:
        """The SPF results of the domains another replica checks that list an IP this one
        checks, from the store (their owner writes them there): the IP's SPF risk factor
        must not depend on which replica its domain hashes to. Nothing to read with one
        replica, or when every such domain is this replica's own."""
        plan = self.runtime.current.plan
        owned = plan.owned
        domains = {d for t in owned for d in plan.sending_domains.get(t, ())} - owned
        if not domains:
            self._foreign_spf = {}
            return
        by_domain: dict[str, list[CheckState]] = {}
        for check in (CheckName.SPF, CheckName.ENVELOPE_SPF):
            for state in await self.store.latest_states(targets=domains, check=check):
                by_domain.setdefault(state.target, []).append(state)
        foreign: dict[str, Mapping[str, object]] = {}
        for domain, found in by_domain.items():
            envelopes = domain in plan.all_domains and bool(
                plan.all_domains[domain].envelope_domains
            )
            if (results := sending_spf_results(found, envelopes=envelopes)) is not None:
                foreign[domain] = results
        self._foreign_spf = foreign

    def _routes(self) -> Mapping[str, Route]:
        return self.runtime.current.settings.notifiers

    def _settings(self) -> Settings:
        return self.runtime.current.settings

    def _scope(self) -> Scope:
        if not self.runtime.started:
            return Scope()
        plan = self.runtime.current.plan
        return Scope(
            targets=plan.kinds,
            shard=(plan.shard.index, plan.shard.count),
            zone_info={z.id: (z.severity.value, z.early_warning) for z in plan.zones},
        )

    def _count_poll(self, result: PollResult) -> None:
        accepted = result.stored + result.duplicates
        if accepted:
            self.metrics.ingest_accepted.labels("imap").inc(accepted)
        for reason, n in result.reasons.items():
            # As the HTTP routes count them: too large is too_large, the rest unprocessable.
            label = "too_large" if reason == "too_large" else "unprocessable"
            self.metrics.ingest_refused.labels("imap", label).inc(n)
        if result.errors:
            self.metrics.errors.labels("imap", "message_failed").inc(result.errors)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_when_idle(self, old: Runtime, running: set[asyncio.Task[None]]) -> None:
        """Close a replaced runtime once the job runs that may still use it have ended."""
        if running:
            await asyncio.wait(running)
        await old.close()

    def _listen(self, config: Config) -> str:
        return self.options.listen or config.http.listen

    async def _start_http(self, settings: Settings, pseudonymizer: Pseudonymizer) -> None:
        services = self.services
        context = HttpContext(
            settings=self._settings,
            store=services.store,
            pseudonymizer=pseudonymizer,
            clock=self.clock,
        )
        app = build_app(
            context,
            DAEMON_ROUTES,
            max_body_bytes=settings.config.http.max_body_bytes,
            middlewares=[system.ingest_metrics_middleware(self.metrics)],
        )
        app[system.KEY_SYSTEM] = SystemServices(
            registry=self.metrics.registry,
            readiness=Readiness(self.runtime, services.store, self.scheduler, services.dnsbl),
            targets=TargetQuery(self.runtime, services.store, self.risk),
            reload=self.reload,
            telemetry=services.telemetry.view,
        )
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
        rt = self.runtime.current
        owned = rt.plan.owned
        zones = frozenset(z.id for z in rt.plan.zones if rt.plan.shard.owns_zone(z.id))
        states = [
            s
            for s in await self.store.latest_states(targets=owned | zones)
            if s.check is not CheckName.ZONE or s.target in zones
        ]
        changes = await self.store.last_record_changes()
        runs = [r for r in await self.store.check_runs() if r.target in owned]
        self.states.load(states, changes, runs)
        self.states.retain(targets=owned, zones=_zone_ids(rt), items=_watched_items(rt))
        self.refresh_risk()

    async def _retire_unwatched(self) -> None:
        """Resolve alerts, and forget states, of targets and zones no longer configured (and
        of telemetry's domains and IPs no longer tracked)."""
        rt = self.runtime.current
        zone_ids = _zone_ids(rt)
        watched = _watched_items(rt)
        await self.services.alerts.retire_unwatched(
            targets=rt.plan.all_targets, zones=zone_ids, shard=rt.plan.shard, items=watched
        )
        if rt.plan.shard.first:  # the replica that imports telemetry
            await self.services.telemetry.retire_untracked()
        checks = [c for c in CheckName if c is not CheckName.ZONE]
        await self.store.forget_states(rt.plan.all_targets, checks)
        await self.store.forget_states(zone_ids, [CheckName.ZONE])
        await self.store.forget_items(watched)

    def _expect_series(self, runtime: Runtime) -> None:
        """The event counters' series this config makes known, at 0 until their first event."""
        components: dict[str, tuple[str, ...]] = {
            f"job_{name}": JOB_ERROR_REASONS for name in self.scheduler.names
        }
        if runtime.settings.imap is not None and runtime.plan.shard.first:
            components["imap"] = ("message_failed",)
        self.metrics.expect(
            zones={z.id: unknown_reasons(z) for z in zones_to_test(runtime.plan)},
            notifiers=runtime.settings.notifiers,
            components=components,
        )

    def _job_failed(self, job: str, exc: BaseException) -> None:
        expected = isinstance(exc, MonitorError) or is_unavailable(exc)
        reason = "expected" if expected else "unexpected"
        self.metrics.errors.labels(f"job_{job}", reason).inc()


def _warn_ignored(config: Config, shard: Shard) -> None:
    for section in ignored_here(config, shard):
        log.warning(
            "%s is set, but only the first replica (shard 0) runs its job: this one "
            "(shard %d/%d) ignores it",
            section,
            shard.index,
            shard.count,
        )


def _config_summary(path: Path | None, runtime: Runtime) -> dict[str, object]:
    """What the running config amounts to, for the start and reload lines (no secret)."""
    config = runtime.config
    return {
        "config": str(path) if path is not None else "defaults",
        "domains": len(runtime.plan.domains),
        "targets": len(runtime.plan.targets),
        "zones": len(runtime.plan.zones),
        "nameservers": [str(n) for n in runtime.resolver.config.nameservers],
        "store": config.store.url.split(":", 1)[0],
        "notifiers": len(runtime.settings.notifiers),
    }


def _zone_ids(runtime: Runtime) -> frozenset[str]:
    return frozenset(z.id for z in runtime.plan.zones)


def _watched_items(runtime: Runtime) -> dict[tuple[str, str], frozenset[str]]:
    return watched_items(runtime.plan.all_domains.values())


async def register_configured_campaigns(store: SqlStore, config: Config) -> None:
    """Upsert the ``[[campaigns]]`` of the config: config wins over the API."""
    for campaign in config.campaigns:
        await store.upsert_campaign(
            campaign.id,
            category=campaign.category,
            consent=campaign.consent,
            sending_domain=campaign.sending_domain,
        )
    if config.campaigns:
        log.info("campaigns registered from config", extra={"count": len(config.campaigns)})


async def run_daemon(config: Config, options: DaemonOptions) -> int:
    """Run until SIGTERM or SIGINT; SIGHUP reloads. Returns the exit status.

    0 after a clean shutdown (also one asked for while starting); 1 when it cannot start
    (store unreachable, address in use); a ConfigError propagates (the CLI exits 2 and
    lists the problems). The signal handlers are installed before the start and removed
    after the stop: a SIGHUP's default action is to end the process, so one sent while
    starting (a config tool's reload right after a restart) or during the graceful stop
    used to kill it. A SIGHUP while starting reloads once started; one while stopping
    is ignored; SIGTERM while starting ends the start and stops.
    """
    daemon = Daemon(config, options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[ReloadOutcome]] = set()
    phase = "starting"  # then "running", "stopping"
    reload_pending = False

    def reloaded(task: asyncio.Task[ReloadOutcome]) -> None:
        reloads.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIGHUP reload failed", exc_info=task.exception())

    def reload() -> None:
        task = loop.create_task(daemon.reload())
        reloads.add(task)
        task.add_done_callback(reloaded)

    def on_hup() -> None:
        nonlocal reload_pending
        if phase == "running":
            reload()
        elif phase == "starting":
            reload_pending = True
            log.info("SIGHUP while starting: the config is reloaded once started")
        else:
            log.info("SIGHUP while shutting down: ignored")

    starting = loop.create_task(daemon.start())

    def on_stop() -> None:
        if phase == "starting" and not stop.is_set():
            log.info("stop asked for while starting")
            starting.cancel()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    if take_held_sighup():  # one that came while the process was importing
        on_hup()
    try:
        try:
            await starting
        except asyncio.CancelledError:
            if not stop.is_set():
                raise  # cancelled from outside, not by a signal
            phase = "stopping"
            await daemon.stop()
            return 0
        except (StoreUnavailableError, OSError) as exc:
            # Expected start-up failures (database down, port taken) get one clear line.
            hint = ""
            if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
                hint = " (another process listens there: choose another [http] listen or --listen)"
            log.error("cannot start: %s%s", exc, hint)
            phase = "stopping"
            await daemon.stop()
            return 1
        except BaseException:
            phase = "stopping"
            await daemon.stop()
            raise
        phase = "running"
        if reload_pending and not stop.is_set():
            reload()
        try:
            await stop.wait()
            log.info("shutting down")
        finally:
            phase = "stopping"
            await daemon.stop()
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            # The process still tears down: a SIGHUP must not end it, not even between
            # the handler's removal and the ignore.
            release_sighup(loop)
