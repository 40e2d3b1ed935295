"""The public ARF corpus through the ingestion service into a real SQLite store.

Each report is stored once (a re-send is a duplicate), only abuse/fraud/virus
count as complaints, and afterwards no address found anywhere in the corpus
appears in the database file or in the log output.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pytest
from sqlitefile import database_bytes

from monitor.ingest.service import ingest_arf
from monitor.model.privacy import Pseudonymizer
from monitor.store import SqlStore

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
ADDRESS = re.compile(rb"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
COMPLAINT_TYPES = {"abuse", "fraud", "virus"}


def _corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "arf").glob("*.eml"))


def _addresses(files: list[Path]) -> set[bytes]:
    found: set[bytes] = set()
    for path in files:
        found.update(m.lower() for m in ADDRESS.findall(path.read_bytes()))
    return found


async def test_corpus_is_stored_once_counted_right_and_leaves_no_address(
    corpus_dir: Path, sqlite_store: SqlStore, sqlite_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    files = _corpus_files(corpus_dir)
    raws = [p.read_bytes() for p in files]
    pseudonymizer = Pseudonymizer(b"k" * 32)
    kwargs = {
        "store": sqlite_store,
        "pseudonymizer": pseudonymizer,
        "campaign_headers": ("X-Campaign-ID",),
        "store_raw": False,
        "now": NOW,
    }
    first = [await ingest_arf(raw, **kwargs) for raw in raws]  # type: ignore[arg-type]
    again = [await ingest_arf(raw, **kwargs) for raw in raws]  # type: ignore[arg-type]
    rows = await sqlite_store.counts()
    await sqlite_store.close()  # flush the WAL into the main file too
    assert not any(r.duplicate for r in first)
    assert all(r.duplicate for r in again)
    assert [r.id for r in again] == [r.id for r in first]
    expected_complaints = sum(max(1, 0) for r in first if r.feedback_type in COMPLAINT_TYPES)
    complaints = sum(r.totals.complaints for r in rows)
    assert complaints >= expected_complaints  # one per reported recipient, at least one per report
    assert not any(
        r.feedback_type == "auth-failure" for r in first if r.feedback_type in COMPLAINT_TYPES
    )

    data = database_bytes(sqlite_path)
    logged = caplog.text.encode().lower()
    addresses = _addresses(files)
    assert len(addresses) > 20  # the search below is not vacuous
    leaked = sorted(a for a in addresses if a in data.lower() or a in logged)
    assert leaked == []
