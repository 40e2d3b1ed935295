"""The table of the daemon's scheduled jobs: name, interval key, what runs, where it runs.

The composition root installs the table on start and again on every reload (intervals
and enabled jobs follow the config). Adding a job is one ``JobSpec`` here and the
method it runs on the service that owns its work (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from monitor.checking.sharding import Shard
from monitor.config import Config, parse_duration
from monitor.daemon.services import Services

__all__ = ["JOBS", "JobSpec", "Replicas", "install_jobs"]

JobFunc = Callable[[], Awaitable[None]]


class Replicas(StrEnum):
    """Where a job runs when several replicas share the work (``[cluster] shard``).

    ``every``: each replica runs it over its own share (targets, zones, campaigns, by
    hash). ``first``: only the first replica (shard 0) runs it: its work is global and
    running it twice would only duplicate effort (the IMAP mailbox, the retention purge).
    """

    EVERY = "every"
    FIRST = "first"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job: ``interval`` reads its config key, ``bind`` picks what it runs.

    ``enabled``: False removes it (e.g. IMAP without ``[imap]``). ``after_reload``: run
    it at once after a reload (the checks, so a new target or zone is seen now).
    ``rerun_on_reload``: False keeps its schedule across a reload that leaves its interval
    as it was (imports from rate-limited APIs must not run at every reload).
    """

    name: str
    interval: Callable[[Config], str]
    bind: Callable[[Services], JobFunc]
    replicas: Replicas = Replicas.EVERY
    enabled: Callable[[Config], bool] = lambda _c: True
    after_reload: bool = False
    rerun_on_reload: bool = True
    section: str | None = None  # the setting that enables it, named in warnings


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "selftest",
        lambda c: c.schedule.selftest_interval,
        lambda s: s.dnsbl.selftest,
        after_reload=True,
    ),
    JobSpec("sweep", lambda c: c.dnsbl.interval, lambda s: s.dnsbl.sweep, after_reload=True),
    JobSpec("auth", lambda c: c.schedule.auth_interval, lambda s: s.auth.auth, after_reload=True),
    JobSpec("drift", lambda c: c.schedule.drift_interval, lambda s: s.auth.drift),
    JobSpec("campaigns", lambda c: c.schedule.metrics_interval, lambda s: s.feedback.campaigns),
    JobSpec("notify", lambda c: c.schedule.notify_interval, lambda s: s.outbox.send_due),
    JobSpec(
        "purge",
        lambda c: c.schedule.purge_interval,
        lambda s: s.feedback.purge,
        replicas=Replicas.FIRST,
    ),
    JobSpec(
        "dmarc",
        lambda c: c.dmarc.interval,
        lambda s: s.dmarc.classify,
        replicas=Replicas.FIRST,
        after_reload=True,
    ),
    JobSpec(
        "mtalog",
        lambda c: c.bounces.log_interval,
        lambda s: s.feedback.mtalog,
        replicas=Replicas.FIRST,
        enabled=lambda c: bool(c.bounces.mta_logs),
        section="[bounces] mta_logs",
    ),
    JobSpec(
        "imap",
        lambda c: c.imap.interval if c.imap else "5m",
        lambda s: s.feedback.imap,
        replicas=Replicas.FIRST,
        enabled=lambda c: c.imap is not None,
        section="[imap]",
    ),
    JobSpec(
        "telemetry_gmail",
        lambda c: c.telemetry.gmail.interval if c.telemetry.gmail else "6h",
        lambda s: s.telemetry.gmail,
        replicas=Replicas.FIRST,
        enabled=lambda c: c.telemetry.gmail is not None,
        rerun_on_reload=False,
        section="[telemetry.gmail]",
    ),
    JobSpec(
        "telemetry_snds",
        lambda c: c.telemetry.snds.interval if c.telemetry.snds else "1d",
        lambda s: s.telemetry.snds,
        replicas=Replicas.FIRST,
        enabled=lambda c: c.telemetry.snds is not None,
        rerun_on_reload=False,
        section="[telemetry.snds]",
    ),
)


class JobScheduler(Protocol):
    def add(
        self,
        name: str,
        func: JobFunc,
        *,
        interval: float,
        jitter: float = 0.0,
        run_now: bool = True,
    ) -> None: ...

    def interval_of(self, name: str) -> float | None: ...

    def remove(self, name: str) -> None: ...


def _over_the_store_file(func: JobFunc, services: Services) -> JobFunc:
    """A run that ended with the SQLite file gone from its path did not succeed: it read
    and wrote the deleted file, and the next start opens another. Readiness says so
    already; the job's own status (and DelivermonChecksStale) now agrees."""

    async def run() -> None:
        await func()
        services.store.check_file()

    return run


def ignored_here(config: Config, shard: Shard) -> list[str]:
    """The settings ``config`` gives for first-replica jobs this replica does not run
    (``[imap]`` on shard 1: only shard 0 polls), to warn about at start and reload."""
    if shard.first:
        return []
    return [
        spec.section
        for spec in JOBS
        if spec.section and spec.replicas is Replicas.FIRST and spec.enabled(config)
    ]


def install_jobs(scheduler: JobScheduler, services: Services, config: Config, shard: Shard) -> None:
    """Add (or re-add, keeping their history) every job this replica runs; remove the rest.

    The removals come last: if an addition fails, installing the previous config again
    restores every job with its history (a removed job's would be lost).
    """
    wanted = [
        spec
        for spec in JOBS
        if (spec.replicas is Replicas.EVERY or shard.first) and spec.enabled(config)
    ]
    for spec in wanted:
        seconds = parse_duration(spec.interval(config))
        known = scheduler.interval_of(spec.name)
        if not spec.rerun_on_reload and known == seconds:
            continue  # keeps its next run: a reload is not a reason to import again
        scheduler.add(
            spec.name,
            _over_the_store_file(spec.bind(services), services),
            interval=seconds,
            jitter=seconds * config.schedule.jitter,
            run_now=spec.rerun_on_reload or known is None,
        )
    for spec in JOBS:
        if spec not in wanted:
            scheduler.remove(spec.name)
