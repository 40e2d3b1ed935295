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

from monitor.ingest.service import ingest_arf
from monitor.model.privacy import Pseudonymizer
from monitor.store import open_store

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
ADDRESS = re.compile(rb"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
COMPLAINT_TYPES = {"abuse", "fraud", "virus"}


def _corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "arf").glob("*.eml"))


def _database_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.glob("delivermon.db*"))


def _addresses(files: list[Path]) -> set[bytes]:
    found: set[bytes] = set()
    for path in files:
        found.update(m.lower() for m in ADDRESS.findall(path.read_bytes()))
    return found


async def test_corpus_is_stored_once_counted_right_and_leaves_no_address(
    corpus_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    files = _corpus_files(corpus_dir)
    raws = [p.read_bytes() for p in files]
    store = await open_store(f"sqlite:///{tmp_path / 'delivermon.db'}")
    pseudonymizer = Pseudonymizer(b"k" * 32)
    kwargs = {
        "store": store,
        "pseudonymizer": pseudonymizer,
        "campaign_headers": ("X-Campaign-ID",),
        "store_raw": False,
        "now": NOW,
    }
    try:
        first = [await ingest_arf(raw, **kwargs) for raw in raws]  # type: ignore[arg-type]
        again = [await ingest_arf(raw, **kwargs) for raw in raws]  # type: ignore[arg-type]
        rows = await store.counts()
    finally:
        await store.close()
    assert not any(r.duplicate for r in first)
    assert all(r.duplicate for r in again)
    assert [r.id for r in again] == [r.id for r in first]
    expected_complaints = sum(max(1, 0) for r in first if r.feedback_type in COMPLAINT_TYPES)
    complaints = sum(r.totals.complaints for r in rows)
    assert complaints >= expected_complaints  # one per reported recipient, at least one per report
    assert not any(
        r.feedback_type == "auth-failure" for r in first if r.feedback_type in COMPLAINT_TYPES
    )

    data = _database_bytes(tmp_path)
    logged = caplog.text.encode().lower()
    addresses = _addresses(files)
    assert len(addresses) > 20  # the search below is not vacuous
    leaked = sorted(a for a in addresses if a in data.lower() or a in logged)
    assert leaked == []
