"""The only module that imports APScheduler: periodic jobs behind a small interface.

Each job runs on its own interval with jitter, never overlaps itself, and coalesces
missed runs into one. APScheduler only says when: each tick starts the run as a task of
our own (or skips it while the previous run goes on), so ``stop()`` can let in-flight runs
finish and cancel the rest without APScheduler reporting a cancelled run as a crash.

A job that raises is counted by the caller's ``on_error`` and runs again at its next
time: one failing job never stops the others. Its log says so once, not at every tick:
the first failure is one line (an expected failure, a ``MonitorError`` such as an IMAP
server or a database that does not answer, without a traceback; anything else with
one), repeats of the same failure go to DEBUG, and the recovery is one line again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.model.errors import MonitorError
from monitor.store.engine import is_unavailable

__all__ = ["JobStatus", "Scheduler"]

log = logging.getLogger(__name__)

JobFunc = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class JobStatus:
    """What a job did last; read by /readyz and the metrics."""

    name: str
    interval: float
    runs: int = 0
    failures: int = 0
    running: bool = False
    last_started: float | None = None  # time.time()
    last_finished: float | None = None
    last_success: float | None = None
    last_duration: float | None = None
    failing_since_run: int | None = None  # runs when the current streak of failures began
    last_error: str | None = None  # "Type: message" of the latest failure, for the log


class Scheduler:
    """Periodic coroutine jobs on the running loop (APScheduler's AsyncIOScheduler)."""

    def __init__(self, *, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self._scheduler: AsyncIOScheduler | None = None
        self._jobs: dict[str, tuple[JobFunc, float, float, bool]] = {}
        self._status: dict[str, JobStatus] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_error = on_error

    def add(
        self,
        name: str,
        func: JobFunc,
        *,
        interval: float,
        jitter: float = 0.0,
        run_now: bool = True,
    ) -> None:
        """Register ``func`` to run every ``interval`` seconds (± ``jitter``), first at start."""
        self._jobs[name] = (func, interval, jitter, run_now)
        status = self._status.get(name)
        if status is None:
            self._status[name] = JobStatus(name, interval)
        else:  # re-added on reload: keep its history, counters must not reset
            status.interval = interval
        if self._scheduler is not None:
            self._schedule(name)

    def remove(self, name: str) -> None:
        self._jobs.pop(name, None)
        self._status.pop(name, None)
        if self._scheduler is not None and self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._jobs)

    def status(self, name: str) -> JobStatus | None:
        return self._status.get(name)

    def interval_of(self, name: str) -> float | None:
        """The interval of a registered job (None: not registered)."""
        entry = self._jobs.get(name)
        return entry[1] if entry is not None else None

    def statuses(self) -> tuple[JobStatus, ...]:
        return tuple(self._status.values())

    def in_flight(self) -> set[asyncio.Task[None]]:
        """The job runs in progress now (a reload waits for them before closing what they use)."""
        return set(self._tasks)

    def start(self) -> None:
        """Start on the running event loop; jobs with ``run_now`` start at once."""
        self._scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=dt.UTC)
        for name in self._jobs:
            self._schedule(name)
        self._scheduler.start()

    def run_soon(self, name: str) -> None:
        """Move a job's next run to now (used after a reload and by tests)."""
        if self._scheduler is not None and self._scheduler.get_job(name) is not None:
            self._scheduler.modify_job(name, next_run_time=dt.datetime.now(dt.UTC))

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop scheduling, then wait (up to ``grace`` seconds) for the runs in flight."""
        scheduler, self._scheduler = self._scheduler, None
        # Pause first: no tick starts a run while the ones in flight finish.
        if scheduler is not None and scheduler.running:
            scheduler.pause()
        # Ticks APScheduler has just created return at once now (no scheduler); let them,
        # so that shutdown() has nothing left to cancel and report.
        await asyncio.sleep(0)
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    def _schedule(self, name: str) -> None:
        assert self._scheduler is not None
        _func, interval, jitter, run_now = self._jobs[name]
        first: dict[str, dt.datetime] = (
            {"next_run_time": dt.datetime.now(dt.UTC)} if run_now else {}
        )
        self._scheduler.add_job(
            self._runner(name),
            IntervalTrigger(seconds=interval, jitter=jitter or None, timezone=dt.UTC),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            # A late tick (a busy loop) still runs, once: coalesce merges the ones it missed.
            misfire_grace_time=None,
            replace_existing=True,
            **first,
        )

    def _runner(self, name: str) -> Callable[[], Awaitable[None]]:
        async def tick() -> None:
            # APScheduler's run: start ours unless the previous one is still going.
            entry = self._jobs.get(name)
            status = self._status.get(name)
            if entry is None or status is None or status.running or self._scheduler is None:
                return
            status.running = True
            task = asyncio.get_running_loop().create_task(
                self._run(name, entry[0], status), name=f"delivermon job {name}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return tick

    async def _run(self, name: str, func: JobFunc, status: JobStatus) -> None:
        status.last_started = time.time()
        started = time.perf_counter()
        try:
            await func()
        except asyncio.CancelledError:
            status.failures += 1  # a run cut short (shutdown) did not succeed
            raise
        except Exception as exc:  # the job boundary: log, count, run again next time
            status.failures += 1
            self._log_failure(name, status, exc)
            if self._on_error is not None:
                self._on_error(name, exc)
        else:
            status.last_success = time.time()
            if status.failing_since_run is not None:
                log.info(
                    "job recovered",
                    extra={"job": name, "failed_runs": status.runs - status.failing_since_run},
                )
            status.failing_since_run = None
            status.last_error = None
        finally:
            status.runs += 1
            status.running = False
            status.last_finished = time.time()
            status.last_duration = time.perf_counter() - started

    @staticmethod
    def _log_failure(name: str, status: JobStatus, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if is_unavailable(exc):
            # A read the database did not answer (a write says so as StoreUnavailableError):
            # expected, and its text would carry the SQL; the driver's exception names it.
            cause = getattr(exc, "orig", None) or exc
            error = f"store unavailable: {type(cause).__name__}"
        repeat = status.failing_since_run is not None and error == status.last_error
        if status.failing_since_run is None:
            status.failing_since_run = status.runs
        status.last_error = error
        if repeat:
            log.debug("job failed again", extra={"job": name, "error": error})
        elif isinstance(exc, MonitorError) or is_unavailable(exc):  # expected: no traceback
            log.warning("job failed", extra={"job": name, "error": error})
        else:
            log.error("job failed", extra={"job": name}, exc_info=exc)
