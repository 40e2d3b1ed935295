"""SQLite connections on a real SQLite file: the writer's kept connection (write plans
share one pooled connection, ``close`` returns it, a plan SQLite refuses lets it go so
the next plan runs on a fresh one) and opening a new file while another connection
holds its write lock (SQLite only: PostgreSQL writes use the pool per plan, and have
no journal mode to switch)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from monitor.model.events import Event, EventType, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store import AddResult, SqlStore, StoreUnavailableError, open_store

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
