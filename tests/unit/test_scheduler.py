"""The periodic job scheduler (monitor/daemon/scheduler.py) on a real event loop and APScheduler.

Intervals are 1 s (the shortest a job is given) and every wait is on an event with a generous
timeout: nothing here asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.daemon.scheduler import Scheduler
from monitor.ingest.imap import ImapProtocolError

WAIT = 10.0  # upper bound for an event that is due within about one interval


@pytest.fixture
async def errors() -> list[tuple[str, BaseException]]:
    return []


@pytest.fixture
async def scheduler(errors: list[tuple[str, BaseException]]) -> AsyncIterator[Scheduler]:
    sched = Scheduler(on_error=lambda name, exc: errors.append((name, exc)))
    yield sched
    await sched.stop(grace=1)


async def test_a_job_runs_at_start(scheduler: Scheduler) -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    scheduler.add("sweep", job, interval=1)
    scheduler.start()
    await asyncio.wait_for(ran.wait(), WAIT)
    await scheduler.stop(grace=1)
    status = scheduler.status("sweep")
    assert status is not None
    assert (status.runs, status.failures, status.running) == (1, 0, False)
    assert status.last_success is not None


async def test_a_slow_job_never_overlaps_itself(scheduler: Scheduler) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    active = 0
    most = 0
    runs = 0

    async def slow() -> None:
        nonlocal active, most, runs
        active += 1
        runs += 1
        most = max(most, active)
        started.set()
        try:
            await release.wait()
        finally:
            active -= 1

    scheduler.add("slow", slow, interval=1)
    scheduler.start()
    await asyncio.wait_for(started.wait(), WAIT)
    for _ in range(3):
        scheduler.run_soon("slow")  # due again now, while the first run is still going
        await asyncio.sleep(0.05)  # let the scheduler act on it (not a timing assertion)
    assert (most, runs) == (1, 1)
    status = scheduler.status("slow")
    assert status is not None
    assert status.running
    release.set()
    started.clear()
    scheduler.run_soon("slow")
    await asyncio.wait_for(started.wait(), WAIT)  # free again: the next run does start
    assert most == 1


async def test_a_failing_job_is_counted_and_runs_again(
    scheduler: Scheduler, errors: list[tuple[str, BaseException]]
) -> None:
    second = asyncio.Event()
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        second.set()

    scheduler.add("flaky", flaky, interval=1)
    scheduler.start()
    await asyncio.wait_for(second.wait(), WAIT)
    await scheduler.stop(grace=1)
    status = scheduler.status("flaky")
    assert status is not None
    assert (status.failures, status.runs) == (1, 2)
    assert status.last_success is not None
    ((name, exc),) = errors
    assert name == "flaky"
    assert isinstance(exc, RuntimeError)


async def test_one_failing_job_does_not_stop_another(scheduler: Scheduler) -> None:
    good = asyncio.Event()

    async def bad() -> None:
        raise ValueError("always")

    async def fine() -> None:
        good.set()

    scheduler.add("bad", bad, interval=1)
    scheduler.add("fine", fine, interval=1)
    scheduler.start()
    await asyncio.wait_for(good.wait(), WAIT)


async def test_stop_waits_for_a_run_in_flight(scheduler: Scheduler) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished = False

    async def job() -> None:
        nonlocal finished
        started.set()
        await release.wait()
        finished = True

    scheduler.add("sweep", job, interval=1)
    scheduler.start()
    await asyncio.wait_for(started.wait(), WAIT)
    stopping = asyncio.create_task(scheduler.stop(grace=WAIT))
    await asyncio.sleep(0.05)  # stop() is now waiting on the run
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, WAIT)
    assert finished
    status = scheduler.status("sweep")
    assert status is not None
    assert (status.runs, status.failures) == (1, 0)
    assert not scheduler.running


async def test_stop_cancels_a_run_that_outlives_the_grace(scheduler: Scheduler) -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await never.wait()

    scheduler.add("stuck", stuck, interval=1)
    scheduler.start()
    await asyncio.wait_for(started.wait(), WAIT)
    await scheduler.stop(grace=0.05)
    status = scheduler.status("stuck")
    assert status is not None
    assert (status.runs, status.failures, status.running) == (1, 1, False)


async def test_re_adding_a_job_keeps_its_counters(scheduler: Scheduler) -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    scheduler.add("auth", job, interval=1)
    scheduler.start()
    await asyncio.wait_for(ran.wait(), WAIT)
    before = scheduler.status("auth")
    assert before is not None
    assert before.runs == 1
    ran.clear()
    scheduler.add("auth", job, interval=2)  # a config reload
    await asyncio.wait_for(ran.wait(), WAIT)  # run_now: it runs again at once
    after = scheduler.status("auth")
    assert after is before
    assert after.interval == 2
    assert after.runs >= 2
    assert scheduler.names == ("auth",)


async def _settle() -> None:
    """Let the tasks APScheduler just created take their first step."""
    for _ in range(3):
        await asyncio.sleep(0)


@pytest.mark.parametrize("wait_first", [False, True], ids=["at-once", "after-first-step"])
async def test_stopping_at_once_logs_no_cancelled_run(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture, wait_first: bool
) -> None:
    # Runs due at start and cut short at stop are not errors: neither APScheduler nor we
    # may log a CancelledError traceback for them.
    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()

    caplog.set_level(logging.DEBUG)
    for name in ("selftest", "sweep", "auth"):
        scheduler.add(name, stuck, interval=1)
    scheduler.start()
    if wait_first:
        await _settle()
    await scheduler.stop(grace=0.05)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == []
    assert "CancelledError" not in caplog.text


async def test_a_repeated_failure_is_one_line_and_the_recovery_another(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    recovered = asyncio.Event()

    async def imap_down() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise ImapProtocolError("imap.connect_failed", "connection refused")
        recovered.set()

    caplog.set_level(logging.INFO, logger="monitor")
    scheduler.add("imap", imap_down, interval=1)
    scheduler.start()
    for _ in range(3):
        scheduler.run_soon("imap")
        await asyncio.sleep(0.05)
    await asyncio.wait_for(recovered.wait(), WAIT)
    await scheduler.stop(grace=1)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("monitor")]
    assert lines == [("WARNING", "job failed"), ("INFO", "job recovered")]
    failed = next(r for r in caplog.records if r.getMessage() == "job failed")
    assert failed.exc_info is None  # an expected failure: the reason, no traceback
    assert failed.__dict__["error"] == "ImapProtocolError: imap.connect_failed: connection refused"


async def test_an_unexpected_failure_keeps_its_traceback_once(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    third = asyncio.Event()

    async def bug() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            third.set()
        raise KeyError("missing")

    caplog.set_level(logging.INFO, logger="monitor")
    scheduler.add("campaigns", bug, interval=1)
    scheduler.start()
    while not third.is_set():
        scheduler.run_soon("campaigns")
        await asyncio.sleep(0.05)
    await scheduler.stop(grace=1)
    failures = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert [(r.levelname, r.exc_info is not None) for r in failures] == [("ERROR", True)]


async def test_a_database_that_cannot_be_opened_is_an_expected_failure(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A job's read on a new connection to a SQLite file whose directory is gone (the
    driver's own OperationalError, wrapped by SQLAlchemy): one WARNING naming the store,
    no traceback, and not the SQL the exception's text carries."""
    # SQLAlchemy's own driver for it, in this thread: the same OperationalError as
    # aiosqlite's, without its worker thread outliving the test's event loop.
    engine = create_engine(f"sqlite:///{tmp_path / 'gone' / 'd.db'}")
    done = asyncio.Event()

    async def read() -> None:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            done.set()

    caplog.set_level(logging.INFO, logger="monitor")
    scheduler.add("campaigns", read, interval=60)
    scheduler.start()
    await asyncio.wait_for(done.wait(), WAIT)
    await scheduler.stop(grace=1)
    engine.dispose()
    (failed,) = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert (failed.levelname, failed.exc_info) == ("WARNING", None)
    assert failed.__dict__["error"] == "store unavailable: OperationalError"
