"""SQLite connections on a real SQLite file: the writer's kept connection (write plans
share one pooled connection, ``close`` returns it, a plan SQLite refuses lets it go so
the next plan runs on a fresh one) and opening a new file while another connection
holds its write lock (SQLite only: PostgreSQL writes use the pool per plan, and have
no journal mode to switch)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from monitor.model.events import Event, EventType, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store import AddResult, SqlStore, StoreUnavailableError, open_store
from monitor.store.dmarc import DmarcRowRecord, _stage_plan
from monitor.store.engine import CHECKPOINT_EVERY
from monitor.store.plans import Plan, Query, Statement

P = Pseudonymizer(b"k" * 32)
NOW = dt.datetime(2025, 3, 10, 10, 20, tzinfo=dt.UTC)


def _sent(key: str) -> list[Event]:
    return [
        Event(
            EventType.SENT,
            campaign="spring",
            occurred_at=NOW,
            source=Source.API,
            idempotency_key=key,
        )
    ]


def _checked_out(store: SqlStore) -> int:
    return int(store._engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]


async def test_write_plans_share_one_connection_that_close_returns(
    sqlite_store: SqlStore,
) -> None:
    assert _checked_out(sqlite_store) == 0
    for key in ("a", "b", "c"):
        assert await sqlite_store.add_events(_sent(key), P) == AddResult(1, 0)
        assert _checked_out(sqlite_store) == 1  # kept between plans, not one per plan
    await sqlite_store._writer.close()
    assert _checked_out(sqlite_store) == 0
    # The next plan opens another.
    assert await sqlite_store.add_events(_sent("d"), P) == AddResult(1, 0)
    assert _checked_out(sqlite_store) == 1


async def test_a_plan_sqlite_refuses_lets_the_connection_go(
    sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    assert await sqlite_store.add_events(_sent("a"), P) == AddResult(1, 0)
    # A real fault, from outside the store: its table disappears under it.
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        other.execute("PRAGMA busy_timeout=30000")
        other.execute("ALTER TABLE counters RENAME TO counters_gone")
        with pytest.raises(StoreUnavailableError):
            await sqlite_store.add_events(_sent("b"), P)
        assert _checked_out(sqlite_store) == 0  # let go, not kept for the next plan
        other.execute("ALTER TABLE counters_gone RENAME TO counters")
    finally:
        other.close()
    assert await sqlite_store.add_events(_sent("b"), P) == AddResult(1, 0)
    assert _checked_out(sqlite_store) == 1
    assert (await sqlite_store.add_events(_sent("a"), P)) == AddResult(0, 1)  # still there


async def test_opening_waits_for_a_connection_holding_the_write_lock_of_a_new_file(
    sqlite_path: Path,
) -> None:
    # Another connection holds the write lock of a new file that is not in WAL mode
    # yet, as a replica starting at the same moment does while it switches the file.
    # SQLite refuses the switch to WAL at once then ("database is locked", without its
    # busy handler): opening must wait and retry, not fail.
    holder = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("CREATE TABLE holding (x)")
        opening = asyncio.create_task(open_store(f"sqlite:///{sqlite_path}"))
        await asyncio.sleep(0.5)
        assert not opening.done()
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    store = await asyncio.wait_for(opening, timeout=30)
    await store.ping()
    await store.close()
    check = sqlite3.connect(sqlite_path)
    try:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        check.close()


def _size(path: Path) -> int:
    return path.stat().st_size


def _plan(seen: list[int], load: str = "none") -> Plan[None]:
    """A one-statement write plan that notes the thread it runs in."""
    seen.append(threading.get_ident())
    yield Query(Statement.DROP_DMARC_STAGE, [(load,)])


async def test_a_small_plan_runs_in_the_loops_thread_any_other_in_the_drivers(
    sqlite_store: SqlStore,
) -> None:
    seen: list[int] = []
    await sqlite_store._writer.run(_plan(seen), small=True)
    await sqlite_store._writer.run(_plan(seen))
    loop_thread = threading.get_ident()
    assert seen[0] == loop_thread
    assert seen[1] != loop_thread


async def test_a_small_plan_waits_in_the_drivers_thread_while_another_holds_the_lock(
    sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    # Another process's writer, as a second replica on the same file: the small plan
    # must not wait for it in the event loop, which would stop everything else.
    holder = sqlite3.connect(sqlite_path, isolation_level=None)
    seen: list[int] = []
    try:
        holder.execute("BEGIN IMMEDIATE")
        writing = asyncio.create_task(sqlite_store._writer.run(_plan(seen), small=True))
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.sleep(0.3)
        late = loop.time() - began - 0.3
        assert late < 0.2, f"the event loop stalled for {late:.2f} s"
        assert not writing.done()
        holder.execute("COMMIT")
    finally:
        holder.close()
    await asyncio.wait_for(writing, timeout=30)
    assert len(seen) == 1
    assert seen[0] != threading.get_ident()  # waited for the lock in the driver's thread


async def test_small_commits_are_checkpointed_in_the_drivers_thread(
    sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    # A small plan commits without SQLite's automatic checkpoint (it would copy and
    # fsync in the event loop); one runs every CHECKPOINT_EVERY of them instead. The
    # WAL file keeps the size of its longest run between checkpoints, so past them it
    # stops growing with the commits.
    wal = Path(f"{sqlite_path}-wal")
    rows = [
        DmarcRowRecord(
            f"192.0.2.{i}",
            "example.com",
            "none",
            "pass",
            True,
            True,
            "example.com",
            "s1",
            "pass",
            "example.com",
            "pass",
            1,
        )
        for i in range(40)
    ]
    at = dt.datetime.now(dt.UTC)

    async def commit(n: int) -> None:
        for i in range(n):
            await sqlite_store._writer.run(
                _stage_plan(f"load-{i}", rows, sqlite_store._bind_time(at)), small=True
            )

    assert CHECKPOINT_EVERY == 100
    await commit(50)
    half = _size(wal)
    await commit(200)  # 250 in all: checkpoints after the 100th and the 200th
    assert _size(wal) < 3 * half, (half, _size(wal))
