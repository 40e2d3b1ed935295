"""Engines for the store: SQLite tuned for one writer at a time, PostgreSQL for many replicas,
and the Alembic upgrade run at start.

SQLite runs in WAL mode (readers never block the writer), ``synchronous=NORMAL``
(durable across process crashes; WAL keeps it consistent across power loss),
a checkpoint every 4,000 WAL pages (16 MiB) rather than SQLite's 1,000 (small plans run
in the event loop's thread checkpoint every ``CHECKPOINT_EVERY`` commits instead, see
``Writer``), and write transactions start with ``BEGIN IMMEDIATE``, so two writers queue on
``busy_timeout`` instead of failing when one upgrades its read lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from monitor.store.errors import StoreUnavailableError
from monitor.store.plans import Plan
from monitor.store.runners import (
    WriteLockTaken,
    checkpoint,
    run_in_sqlite_thread,
    run_on_sqlalchemy,
    run_on_sqlite3,
    run_on_sqlite3_at_once,
    sqlite3_of,
    sqlite_driver,
    truncating_checkpoint,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CHECKPOINT_EVERY",
    "WAL_AUTOCHECKPOINT_PAGES",
    "WRITE",
    "Writer",
    "build_engine",
    "is_unavailable",
    "migrate",
    "unavailable_on_failure",
]

BUSY_TIMEOUT_MS = 30_000
WAL_AUTOCHECKPOINT_PAGES = 4_000
# Small plans run in the event loop's thread commit without a checkpoint; every this many
# of them, one passive checkpoint runs in the driver's thread instead.
CHECKPOINT_EVERY = 100
# Execution option marking a write transaction (BEGIN IMMEDIATE on SQLite).
WRITE = "delivermon_write"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant: replicas starting together take turns to run migrations.
_MIGRATION_LOCK = 0x64656C6976  # "deliv"
T = TypeVar("T")


# Seconds a PostgreSQL connection attempt may take (asyncpg's own default is 60): a
# server that accepts and never answers held the daemon's start, and each job's
# connection, that long. A ``?timeout=<seconds>`` in the store URL replaces it.
PG_CONNECT_TIMEOUT = 10.0


def build_engine(url: URL) -> AsyncEngine:
    """An async engine for an ``async_url()`` URL (aiosqlite or asyncpg)."""
    if url.get_backend_name() != "sqlite":
        given = url.query.get("timeout")  # checked by async_url
        # asyncpg wants a number; the URL's text was passed on as it is (a TypeError).
        timeout = PG_CONNECT_TIMEOUT if given is None else float(str(given))
        return create_async_engine(url, pool_pre_ping=True, connect_args={"timeout": timeout})
    # Not bound to the thread that opened it: the writer runs small plans on its kept
    # connection from the event loop's thread (SQLAlchemy sets this for files anyway).
    engine = create_async_engine(url, connect_args={"check_same_thread": False})
    sync_engine = engine.sync_engine

    # DBAPI objects are untyped here (the aiosqlite adapter), hence Any.
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # First: switching a new file to WAL takes a write lock, and replicas opening one
        # file together must wait for it, not fail with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        dbapi_connection.run_async(_switch_to_wal)
        for pragma in (
            "synchronous=NORMAL",
            "foreign_keys=ON",
            # Deleted content is overwritten with zeros, not left in free pages (what an
            # erasure or the retention purge deletes must not stay readable in the file).
            "secure_delete=ON",
            # An ingest batch dirties hundreds of index pages (random keys), so at the
            # default 1,000 pages nearly every commit also ran a checkpoint (copy and
            # fsync); fewer, larger checkpoints write each hot page once for many commits.
            f"wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


async def _switch_to_wal(connection: Any) -> None:
    """``PRAGMA journal_mode=WAL`` on an aiosqlite connection, retried while SQLite says
    the file is busy, for as long as ``busy_timeout``.

    SQLite answers the switch with SQLITE_BUSY at once, without its busy handler, when
    another connection holds the write lock of a file not yet in WAL mode: what
    replicas opening one new file together do to each other.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor = await connection.execute("PRAGMA journal_mode=WAL")
            await cursor.close()
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(2 * pause, 0.1)


def _upgrade(conn: Connection) -> None:
    """``alembic upgrade head``.

    Raises:
        StoreUnavailableError: the store is at a revision these migrations do not know
            (a newer delivermon migrated it: a rollback needs the store's backup too).
    """
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    script = ScriptDirectory.from_config(config)
    known = {r.revision for r in script.walk_revisions()}
    heads = MigrationContext.configure(conn).get_current_heads()
    strange = sorted(set(heads) - known)
    if strange or len(heads) > 1:
        raise StoreUnavailableError(
            f"the store's schema is at revision {', '.join(heads)}, which this delivermon "
            f"does not know (it knows one revision, up to {script.get_current_head()}): a "
            "newer delivermon migrated it (run that version, or restore the store's backup "
            "from before the upgrade), or the database's alembic_version table belongs to "
            "another application (give delivermon a database of its own)"
        )
    command.upgrade(config, "head")


async def has_schema(engine: AsyncEngine) -> bool:
    """Whether the database holds delivermon's schema (at any revision)."""
    async with engine.connect() as conn:
        return bool(await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")))


async def migrate(engine: AsyncEngine) -> None:
    """``alembic upgrade head`` in one transaction; concurrent starts wait for each other."""
    async with engine.execution_options(**{WRITE: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        await conn.run_sync(_upgrade)


class Writer:
    """Write transactions (BEGIN IMMEDIATE on SQLite), one at a time per process on SQLite.

    SQLite has one writer anyway: letting several pooled connections race for it
    makes the losers sleep in SQLite's busy handler (seconds at the tail). An
    asyncio lock queues them in order instead. PostgreSQL writes run concurrently.

    On SQLite, ``run`` keeps one connection for its plans rather than checking one out
    of the pool for each: a checkout and its reset on return are hand-offs to the
    driver's thread and back, which cost more than a small plan's own work. The kept
    connection is let go (and the next plan opens another) when SQLite raises, and
    ``close`` returns it before the engine is disposed.

    A plan its caller marks ``small`` runs in the event loop's own thread, as parses
    of small reports do: without the hand-off to the driver's thread and back, storing
    300 small DMARC reports took about a fifth less time (bench/DMARC.md). It never
    waits there: when another process holds the write lock, it runs in the driver's
    thread as any other plan, and its commit runs no checkpoint (every
    ``CHECKPOINT_EVERY`` of them, one runs in the driver's thread).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(**{WRITE: True})
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._kept: AsyncConnection | None = None
        self._driver: Any = None  # the kept connection's aiosqlite connection
        self._unchecked = 0  # small plans committed since the last checkpoint
        self._file = DatabaseFile.of(engine.url)
        # When the last write was refused as unavailable (time.monotonic()), if none has
        # succeeded since, and why: readiness reads them, as a read-only ping cannot tell.
        self.failed_at: float | None = None
        self.last_failure = ""

    def check_file(self) -> None:
        """Raises StoreUnavailableError when the SQLite database file this store opened is
        no longer at its path (deleted, or replaced by another file)."""
        if self._file is not None:
            self._file.check()

    @contextlib.contextmanager
    def _watched(self) -> Iterator[None]:
        """A write: refusals as ``StoreUnavailableError`` (``unavailable_on_failure``),
        remembered for readiness; a commit into a file no longer at the database's path
        is refused too, as nothing written there would be found again."""
        try:
            with unavailable_on_failure():
                yield
                self.check_file()
        except StoreUnavailableError as exc:
            self.failed_at = time.monotonic()
            self.last_failure = str(exc)
            raise
        self.failed_at = None

    def check_writable(self, within: float) -> None:
        """Raises StoreUnavailableError when the database file is gone or replaced, or the
        last write (less than ``within`` seconds ago, none succeeding since) was refused."""
        self.check_file()
        if self.failed_at is not None and time.monotonic() - self.failed_at < within:
            raise StoreUnavailableError(f"the last write was refused: {self.last_failure}")

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction.

        Raises:
            StoreUnavailableError: the database is unreachable, refused the write, or its
                disk is full (nothing was committed).
        """
        with self._watched():
            if self._lock is None:
                async with self._engine.begin() as conn:
                    yield conn
                return
            async with self._lock, self._engine.begin() as conn:
                yield conn

    async def run(self, plan: Plan[T], *, small: bool = False) -> T:
        """Run a write plan as one transaction (``monitor.store.plans``).

        On SQLite the whole transaction is one call in the driver's thread, or with
        ``small`` (a plan of at most a few thousand rows) in the event loop's thread
        when the write lock is free; elsewhere each statement is awaited through
        SQLAlchemy.

        Raises:
            StoreUnavailableError: as ``begin``.
        """
        with self._watched():
            if self._lock is None:
                async with self._engine.begin() as conn:
                    return await run_on_sqlalchemy(conn, plan)
            async with self._lock:
                if self._kept is None:
                    self._kept = await self._engine.connect()
                    self._driver = await sqlite_driver(self._kept)
                try:
                    if small:
                        with contextlib.suppress(WriteLockTaken):
                            result = run_on_sqlite3_at_once(
                                sqlite3_of(self._driver),
                                plan,
                                busy_timeout_ms=BUSY_TIMEOUT_MS,
                                autocheckpoint=WAL_AUTOCHECKPOINT_PAGES,
                            )
                            await self._committed_small()
                            return result
                    return await run_in_sqlite_thread(
                        self._driver, functools.partial(run_on_sqlite3, plan=plan)
                    )
                except sqlite3.Error:
                    # The plan was rolled back; the connection may not be fit for the
                    # next one (an I/O error, a full disk): the next plan opens another.
                    await self._let_go()
                    raise

    async def _committed_small(self) -> None:
        """Count a small plan's commit; every ``CHECKPOINT_EVERY``, checkpoint in the
        driver's thread. The plan is committed: a failed checkpoint is left to the next."""
        self._unchecked += 1
        if self._unchecked < CHECKPOINT_EVERY:
            return
        self._unchecked = 0
        with contextlib.suppress(sqlite3.Error):
            await run_in_sqlite_thread(self._driver, checkpoint)

    async def empty_wal(self) -> bool:
        """SQLite: checkpoint and empty the WAL file, which still holds the pages as they
        were before a deletion until later writes overwrite them; False when a reader kept
        it from finishing. PostgreSQL: True (nothing to do here)."""
        if self._lock is None:
            return True
        async with self._lock:
            if self._kept is None:
                self._kept = await self._engine.connect()
                self._driver = await sqlite_driver(self._kept)
            try:
                with unavailable_on_failure():
                    return await run_in_sqlite_thread(self._driver, truncating_checkpoint)
            except sqlite3.Error:
                await self._let_go()
                raise

    async def close(self) -> None:
        """Return the kept SQLite connection to the pool (before the engine is disposed)."""
        if self._lock is None:
            return
        async with self._lock:
            await self._let_go()

    async def _let_go(self) -> None:
        kept, self._kept, self._driver = self._kept, None, None
        if kept is not None:
            # Closing returns it to the pool, whose reset may fail on a broken connection:
            # the pool then discards it, and nothing here is left to undo.
            with contextlib.suppress(Exception):
                await kept.close()


class DatabaseFile:
    """A SQLite database's path and the file it named when the store opened it.

    A process holding the database open keeps writing into the file it opened, even once
    that file is deleted or replaced at its path: such writes would be acknowledged and
    then lost at the next start, which opens whatever is at the path.
    """

    def __init__(self, path: Path, identity: tuple[int, int]) -> None:
        self.path = path
        self.identity = identity

    @classmethod
    def of(cls, url: URL) -> DatabaseFile | None:
        """The file of a SQLite URL's database as it is now; None for PostgreSQL, an
        in-memory database, or a file not there yet (a new database)."""
        database = url.database
        if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
            return None
        if database.startswith("file:"):
            return None
        try:
            found = os.stat(database)
        except OSError:
            return None
        return cls(Path(database), (found.st_dev, found.st_ino))

    def check(self) -> None:
        """Raises StoreUnavailableError when the path names another file, or none."""
        try:
            found = os.stat(self.path)
        except OSError:
            raise StoreUnavailableError(
                f"store unavailable: the database file {self.path} is gone"
            ) from None
        if (found.st_dev, found.st_ino) != self.identity:
            raise StoreUnavailableError(
                f"store unavailable: the database file {self.path} was replaced"
            )


# What "the database is not there or cannot take the write" looks like from each driver:
# a refused or dropped connection (OSError, asyncpg's connection errors), SQLAlchemy's
# wrappers of those, and SQLite's "disk is full", "unable to open", "locked".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    sqlite3.OperationalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is a driver's "not reachable / cannot write" (a read's, too)."""
    return isinstance(exc, _UNAVAILABLE) or _broken_connection(exc)


def _broken_connection(exc: BaseException) -> bool:
    """asyncpg's own "another operation is in progress" on a pooled connection that a
    server shutdown left half-way (SQLAlchemy wraps it as an InternalError): the server
    went away under it, as a dropped connection."""
    if not isinstance(exc, sqlalchemy.exc.InternalError):
        return False
    cause: BaseException | None = exc
    for _ in range(4):  # SQLAlchemy's wrapper, the adaptor's, asyncpg's
        if cause is None:
            return False
        if isinstance(cause, asyncpg.exceptions.InternalClientError):
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False


@contextlib.contextmanager
def unavailable_on_failure() -> Iterator[None]:
    """Turn a driver's "not reachable / cannot write" into ``StoreUnavailableError``
    (which the HTTP layer answers with 503: nothing acknowledged, retry later)."""
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        detail = "disk full" if "full" in str(exc).lower() else type(exc).__name__
        raise StoreUnavailableError(f"store unavailable: {detail}") from exc
