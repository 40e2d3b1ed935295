"""A SQLite store's file read behind the store's back: row counts, and its bytes on disk.

Tests use these to see what the store really committed (a fresh sqlite3 connection is a
WAL reader, so it sees committed rows only) and what reached the disk at all.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path


def row_counts(database: Path, tables: Iterable[str]) -> dict[str, int]:
    """Rows in each of `tables`, read from the database file with a connection of its own."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}


def stored_reports(database: Path) -> int:
    """Rows in feedback_reports: one per distinct ARF report the store kept."""
    return row_counts(database, ["feedback_reports"])["feedback_reports"]


def database_bytes(database: Path) -> bytes:
    """The database file, its WAL and its shared-memory file, byte for byte.

    Fails when there is no such file: a search of nothing for addresses finds none.
    """
    files = sorted(database.parent.glob(database.name + "*"))
    assert files, f"no SQLite file at {database}"
    return b"".join(path.read_bytes() for path in files)
