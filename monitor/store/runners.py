"""Running write plans (``monitor.store.plans``): over SQLAlchemy, or over sqlite3 in one hand-off.

PostgreSQL runs a plan on an ``AsyncConnection``, each statement a SQLAlchemy
statement awaited in turn. SQLite runs the whole transaction (``BEGIN IMMEDIATE``,
every statement, ``COMMIT``) as one function in aiosqlite's thread: through
SQLAlchemy each statement costs several thread hand-offs (cursor, execute, fetch,
close) and its per-row parameter processing, which made the hand-offs, not SQLite,
the cost of a small transaction. The SQL is the schema's own columns, with the
datetimes bound as ``UtcDateTime`` binds them (``sqlite_datetime``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Executable,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.model.errors import MonitorError
from monitor.store.models import SuppressionReason
from monitor.store.plans import COLUMNS, DMARC_ROW_COLUMNS, Plan, Query, Row, Statement
from monitor.store.schema import (
    BOUNCE_COUNTER_COLUMNS,
    COUNTER_COLUMNS,
    bounce_counters,
    cacheable_insert,
    campaigns,
    counters,
    dmarc_reports,
    dmarc_row_stage,
    dmarc_rows,
    event_keys,
    events,
    feedback_reports,
    report_recipients,
    suppressions,
)

__all__ = [
    "WriteLockTaken",
    "checkpoint",
    "run_in_sqlite_thread",
    "run_on_sqlalchemy",
    "run_on_sqlite3",
    "run_on_sqlite3_at_once",
    "sqlite3_of",
    "sqlite_driver",
]

T = TypeVar("T")
_OPT_OUTS = (SuppressionReason.UNSUBSCRIBE.value, SuppressionReason.COMPLAINT.value)
_INSERTS: dict[Statement, Table] = {
    Statement.INSERT_REPORTS: feedback_reports,
    Statement.INSERT_RECIPIENTS: report_recipients,
    Statement.CLAIM_KEYS: event_keys,
    Statement.UPSERT_SUPPRESSIONS: suppressions,
    Statement.UPSERT_COUNTERS: counters,
    Statement.UPSERT_BOUNCE_COUNTERS: bounce_counters,
    Statement.INSERT_EVENTS: events,
    Statement.INSERT_DMARC_REPORT: dmarc_reports,
    Statement.INSERT_DMARC_ROWS: dmarc_rows,
    Statement.INSERT_DMARC_STAGE: dmarc_row_stage,
}
# The text after VALUES (...): the same syntax on SQLite 3.35+ and PostgreSQL.
_ON_CONFLICT = {
    Statement.INSERT_REPORTS: "ON CONFLICT (raw_sha256) DO NOTHING",
    Statement.INSERT_DMARC_REPORT: "ON CONFLICT (org, report_id, domain) DO NOTHING",
    Statement.CLAIM_KEYS: "ON CONFLICT DO NOTHING",
    Statement.UPSERT_SUPPRESSIONS: (
        "ON CONFLICT (pseudonym, reason) DO UPDATE SET first_at = excluded.first_at"
        " WHERE excluded.first_at < suppressions.first_at"
    ),
    Statement.UPSERT_COUNTERS: (
        "ON CONFLICT (campaign, provider, category, consent, bucket) DO UPDATE SET "
        + ", ".join(f"{name} = counters.{name} + excluded.{name}" for name in COUNTER_COLUMNS)
    ),
    Statement.UPSERT_BOUNCE_COUNTERS: (
        "ON CONFLICT (campaign, provider, bounce_class, blocklist, bucket) DO UPDATE SET "
        + ", ".join(
            f"{name} = bounce_counters.{name} + excluded.{name}" for name in BOUNCE_COUNTER_COLUMNS
        )
    ),
}
# The columns the inserts that return rows return (what the transaction inserted).
_RETURNING = {
    Statement.INSERT_REPORTS: ("id",),
    Statement.INSERT_DMARC_REPORT: ("id",),
    Statement.CLAIM_KEYS: ("source", "key_sha256"),
}


# --- SQLAlchemy ------------------------------------------------------------------


def _upsert(statement: Statement) -> Executable:
    """The statement's cacheable insert (``cacheable_insert``), with its RETURNING."""
    table = _INSERTS[statement]
    stmt = cacheable_insert(table, _ON_CONFLICT.get(statement))
    returning = _RETURNING.get(statement)
    if returning is not None:
        # Executemany with RETURNING: insertmanyvalues (multi-row VALUES) on both drivers.
        return stmt.returning(*(table.c[name] for name in returning))
    return stmt


_SQLALCHEMY_INSERTS = {statement: _upsert(statement) for statement in _INSERTS}
_SQLALCHEMY_SELECTS: dict[Statement, Executable] = {
    Statement.FIND_REPORTS: select(feedback_reports.c.raw_sha256, feedback_reports.c.id).where(
        feedback_reports.c.raw_sha256.in_(bindparam("values", expanding=True))
    ),
    Statement.CAMPAIGN_LABELS: select(
        campaigns.c.id, campaigns.c.category, campaigns.c.consent
    ).where(campaigns.c.id.in_(bindparam("values", expanding=True))),
    Statement.OPTED_OUT: select(
        suppressions.c.pseudonym, func.min(suppressions.c.first_at).label("first_at")
    )
    .where(
        suppressions.c.pseudonym.in_(bindparam("values", expanding=True)),
        suppressions.c.reason.in_(_OPT_OUTS),
    )
    .group_by(suppressions.c.pseudonym),
}


async def run_on_sqlalchemy(conn: AsyncConnection, plan: Plan[T]) -> T:
    """Run ``plan`` inside ``conn``'s transaction, awaiting each statement."""
    try:
        query = next(plan)
        while True:
            query = plan.send(await _execute_sqlalchemy(conn, query))
    except StopIteration as done:
        result: T = done.value
        return result


# Lookups by a whole key, one row of values per lookup.
_SQLALCHEMY_KEYED: dict[Statement, Executable] = {
    Statement.FIND_DMARC_REPORT: select(dmarc_reports.c.id).where(
        dmarc_reports.c.org == bindparam("org"),
        dmarc_reports.c.report_id == bindparam("report_id"),
        dmarc_reports.c.domain == bindparam("domain"),
    ),
}


def _move_stage() -> Executable:
    """A load's staged rows, summed by row, into ``dmarc_rows`` under the report."""
    stage = dmarc_row_stage.c
    keys = [stage[name] for name in DMARC_ROW_COLUMNS]
    summed = (
        select(bindparam("report", type_=String()), *keys, func.sum(stage.messages))
        .where(stage.load == bindparam("load"))
        .group_by(*keys)
    )
    return insert(dmarc_rows).from_select(COLUMNS[Statement.INSERT_DMARC_ROWS], summed)


# Statements run once per row of bind values, returning nothing.
_SQLALCHEMY_EACH: dict[Statement, Executable] = {
    Statement.MOVE_DMARC_STAGE: _move_stage(),
    Statement.DROP_DMARC_STAGE: delete(dmarc_row_stage).where(
        dmarc_row_stage.c.load == bindparam("load")
    ),
}


async def _execute_sqlalchemy(conn: AsyncConnection, query: Query) -> list[Row]:
    each = _SQLALCHEMY_EACH.get(query.statement)
    if each is not None:
        names = COLUMNS[query.statement]
        for row in query.rows:
            await conn.execute(each, dict(zip(names, row, strict=True)))
        return []
    keyed = _SQLALCHEMY_KEYED.get(query.statement)
    if keyed is not None:
        names = COLUMNS[query.statement]
        found_keyed: list[Row] = []
        for row in query.rows:
            found_keyed += [
                tuple(r) for r in await conn.execute(keyed, dict(zip(names, row, strict=True)))
            ]
        return found_keyed
    select_stmt = _SQLALCHEMY_SELECTS.get(query.statement)
    if select_stmt is not None:
        values = [row[0] for row in query.rows]
        found = await conn.execute(select_stmt, {"values": values})
        return [tuple(row) for row in found]
    names = COLUMNS[query.statement]
    params = [dict(zip(names, row, strict=True)) for row in query.rows]
    result = await conn.execute(_SQLALCHEMY_INSERTS[query.statement], params)
    if query.statement in _RETURNING:
        return [tuple(row) for row in result]
    return []


# --- sqlite3, in aiosqlite's thread -------------------------------------------------

# Rows per multi-row VALUES statement (the RETURNING inserts) and values per IN list:
# far below SQLite's 32,766 bound parameters, few distinct statement texts to prepare.
_CHUNK = 250


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


# The SQL below is built from the schema's names and ? placeholders only: values are
# always bound, hence the S608 (SQL built from strings) exemptions.


def _insert_sql(statement: Statement, rows: int = 1) -> str:
    names = COLUMNS[statement]
    values = ", ".join([f"({_placeholders(len(names))})"] * rows)
    clause = _ON_CONFLICT.get(statement, "")
    returning = _RETURNING.get(statement)
    if returning is not None:
        clause += f" RETURNING {', '.join(returning)}"
    table = _INSERTS[statement].name
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {values} {clause}"  # noqa: S608


_SELECTS = {
    Statement.FIND_REPORTS: "SELECT raw_sha256, id FROM feedback_reports WHERE raw_sha256 IN",
    Statement.CAMPAIGN_LABELS: "SELECT id, category, consent FROM campaigns WHERE id IN",
    Statement.OPTED_OUT: "SELECT pseudonym, min(first_at) FROM suppressions WHERE pseudonym IN",
}
_KEYED = {
    Statement.FIND_DMARC_REPORT: (
        "SELECT id FROM dmarc_reports WHERE org = ? AND report_id = ? AND domain = ?"
    ),
}
_ROW_KEYS = ", ".join(DMARC_ROW_COLUMNS)
_MOVE_INTO = ", ".join(COLUMNS[Statement.INSERT_DMARC_ROWS])
_EACH = {
    Statement.MOVE_DMARC_STAGE: (
        f"INSERT INTO dmarc_rows ({_MOVE_INTO}) SELECT ?, {_ROW_KEYS}, sum(messages) "  # noqa: S608
        f"FROM dmarc_row_stage WHERE load = ? GROUP BY {_ROW_KEYS}"
    ),
    Statement.DROP_DMARC_STAGE: "DELETE FROM dmarc_row_stage WHERE load = ?",
}
_OPTED_OUT_TAIL = " AND reason IN ({}) GROUP BY pseudonym".format(", ".join("?" * len(_OPT_OUTS)))


def _select(statement: Statement, values: list[Any]) -> tuple[str, list[Any]]:
    """SQL and parameters of an IN query over ``values``."""
    sql = f"{_SELECTS[statement]} ({_placeholders(len(values))})"
    if statement is Statement.OPTED_OUT:
        return sql + _OPTED_OUT_TAIL, [*values, *_OPT_OUTS]
    return sql, values


def _chunks(rows: Sequence[Row]) -> Iterator[Sequence[Row]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


def _sqlite_time(value: str) -> dt.datetime:
    """A ``UtcDateTime`` read back: naive UTC text to an aware datetime."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _execute_sqlite3(db: sqlite3.Connection, query: Query) -> list[Row]:
    statement, rows = query.statement, query.rows
    if not rows:
        return []
    each = _EACH.get(statement)
    if each is not None:
        for row in rows:
            db.execute(each, row)
        return []
    keyed = _KEYED.get(statement)
    if keyed is not None:
        return [found for row in rows for found in db.execute(keyed, row).fetchall()]
    if statement in _SQLALCHEMY_SELECTS:
        found: list[Row] = []
        for chunk in _chunks(rows):
            found += db.execute(*_select(statement, [row[0] for row in chunk])).fetchall()
        if statement is Statement.OPTED_OUT:
            return [(pseudonym, _sqlite_time(at)) for pseudonym, at in found]
        return found
    if statement in _RETURNING:
        returned: list[Row] = []
        for chunk in _chunks(rows):
            flat = [value for row in chunk for value in row]
            returned += db.execute(_insert_sql(statement, len(chunk)), flat).fetchall()
        return returned
    db.executemany(_SQLITE_INSERTS[statement], rows)
    return []


_SQLITE_INSERTS = {statement: _insert_sql(statement) for statement in _INSERTS}


def run_on_sqlite3(db: sqlite3.Connection, plan: Plan[T]) -> T:
    """Run ``plan`` as one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction (rolled back on error).

    ``db`` is in autocommit mode (``isolation_level = None``, as the engine sets it).
    """
    db.execute("BEGIN IMMEDIATE")
    return _transaction(db, plan)


class WriteLockTaken(MonitorError):  # noqa: N818 (a signal to the caller, not an error)
    """Another connection holds SQLite's write lock: the plan was not started (caught by
    ``Writer.run``, which then runs the plan in the driver's thread; never seen outside)."""


def run_on_sqlite3_at_once(
    db: sqlite3.Connection, plan: Plan[T], *, busy_timeout_ms: int, autocheckpoint: int
) -> T:
    """``run_on_sqlite3`` for the calling thread (the event loop's): it never waits.

    The write lock is taken with ``busy_timeout`` 0: when another connection (another
    process) holds it, ``WriteLockTaken`` is raised with the plan not started, for the
    caller to run it where waiting is harmless. The commit runs no automatic
    checkpoint (its copy and fsync took about 20 ms on a 16 MiB WAL): the caller runs
    checkpoints elsewhere (``checkpoint``).
    """
    db.execute("PRAGMA busy_timeout=0")
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
            raise WriteLockTaken from exc
        raise
    finally:
        db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    db.execute("PRAGMA wal_autocheckpoint=0")
    try:
        return _transaction(db, plan)
    finally:
        db.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")


def checkpoint(db: sqlite3.Connection) -> None:
    """A passive WAL checkpoint (it never waits for readers or writers)."""
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def truncating_checkpoint(db: sqlite3.Connection) -> bool:
    """Copy the WAL into the database and empty the WAL file (waiting for readers up to
    the busy timeout); False when a reader kept it from finishing."""
    busy, _log, _copied = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy


def _transaction(db: sqlite3.Connection, plan: Plan[T]) -> T:
    """The rest of ``plan``'s transaction after its ``BEGIN``: run, then commit or roll back."""
    try:
        result = _drive_sqlite3(db, plan)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


def _drive_sqlite3(db: sqlite3.Connection, plan: Plan[T]) -> T:
    try:
        query = next(plan)
        while True:
            query = plan.send(_execute_sqlite3(db, query))
    except StopIteration as done:
        result: T = done.value
        return result


async def sqlite_driver(conn: AsyncConnection) -> Any:
    """The aiosqlite connection behind ``conn`` (for ``run_in_sqlite_thread``)."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection  # aiosqlite.Connection (the adapter is untyped)


def sqlite3_of(driver: Any) -> sqlite3.Connection:
    """The sqlite3 connection behind ``driver`` (an aiosqlite connection), for a plan run
    in the event loop's thread (``run_on_sqlite3_at_once``): the same object
    ``run_in_sqlite_thread`` hands to aiosqlite's thread. SQLAlchemy opens file
    databases with ``check_same_thread=False``, and the engine asks for it as well."""
    conn: sqlite3.Connection = driver._conn
    return conn


async def run_in_sqlite_thread(driver: Any, function: Callable[[sqlite3.Connection], T]) -> T:
    """Call ``function`` with the sqlite3 connection behind ``driver`` (an
    aiosqlite connection, from ``sqlite_driver``), in aiosqlite's thread.

    One hand-off for the whole call. aiosqlite runs each of its connections' calls in
    that connection's own thread, one at a time, through ``_execute``; SQLAlchemy's
    aiosqlite dialect reaches into the same object (``_conn``) for what aiosqlite
    does not wrap. The store tests run every write through here on SQLite, so an
    aiosqlite release that changes these names fails them.
    """
    result: T = await driver._execute(function, driver._conn)
    return result
