"""PostgreSQL clusters for the ingestion benchmark: the tests' launcher, with durability chosen.

``fsync=True`` is PostgreSQL's default (every commit durable); ``fsync=False`` is
the test suite's setting. The cluster code itself is ``tests/pgserver.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pgserver import PgError, PgServer, find_postgres_bindir, pick_free_port
from pgserver import missing_prerequisite as _missing

__all__ = ["PgCluster", "PgError", "free_port", "missing_prerequisite"]


def missing_prerequisite() -> str | None:
    return _missing()


def free_port() -> int:
    return pick_free_port()


class PgCluster(PgServer):
    """A benchmark cluster: ``PgServer`` with the durability given by ``fsync``."""

    def __init__(self, *, fsync: bool) -> None:
        bindir = find_postgres_bindir()
        if bindir is None:
            raise PgError("PostgreSQL server binaries not found (apt-get install postgresql)")
        super().__init__(bindir, fsync=fsync)
        self.fsync = fsync
