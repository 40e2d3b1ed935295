"""The store going away under ingestion: PostgreSQL stopped while events and reports are
posted, and SQLite on a file system that fills up.

Each request gets 503 while the store cannot take it (never 202: nothing is acknowledged
that is not stored), ``/readyz`` names the store, and ingestion resumes by itself once the
store is back, without a restart; what was acknowledged is stored exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import leaks
import pytest
from conftest import require_server
from daemon import offline_config
from pgserver import PgServer, find_postgres_bindir, missing_prerequisite

from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.ingest.parsers import parser_by_name

TOKEN = "store-fault-ingest-token"
ARF = parser_by_name("arf").examples[0]


def _config(store_url: str) -> str:
    return offline_config(store_url, extra=f'[http]\ningest_token = "{TOKEN}"\n')


@contextlib.asynccontextmanager
async def _daemon(store_url: str) -> AsyncIterator[tuple[Daemon, str]]:
    daemon = Daemon(parse_config(_config(store_url)), DaemonOptions(listen="127.0.0.1:0"))
    await daemon.start()
    try:
        yield daemon, f"http://127.0.0.1:{daemon.listen_port}"
    finally:
        await daemon.stop()


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.sent = 0
        self.acknowledged_events = 0
        self.acknowledged_reports = 0

    async def events(self, count: int = 5) -> int:
        self.sent += 1
        batch = {
            "events": [
                {"type": "delivered", "campaign": "c", "id": f"{uuid.uuid4()}"}
                for _ in range(count)
            ]
        }
        status = await self._post("/api/v1/events", json.dumps(batch).encode(), "application/json")
        if status == 202:
            self.acknowledged_events += count
        return status

    async def report(self) -> int:
        raw = ARF.replace(b"<1@example.com>", f"<{uuid.uuid4()}@example.com>".encode())
        status = await self._post("/api/v1/feedback/arf", raw, "message/rfc822")
        if status == 202:
            self.acknowledged_reports += 1
        return status

    async def ready(self) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as s, s.get(self.base + "/readyz") as r:
            leaks.RESPONSES.append(await r.read())  # a store's error must not show its URL
            return r.status, await r.json()

    async def _post(self, path: str, body: bytes, content_type: str) -> int:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.base + path, data=body, headers=headers) as r,
        ):
            leaks.RESPONSES.append(await r.read())  # the 503 bodies too
            return r.status


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def own_postgresql() -> Iterator[PgServer]:
    """A cluster of this test's own: it is stopped and started again mid-test."""
    reason = missing_prerequisite()
    require_server(None if reason else "postgresql", reason or "")
    bindir = find_postgres_bindir()
    assert bindir is not None
    with PgServer(bindir) as server:
        yield server


@pytest.mark.postgresql
async def test_postgresql_stopped_gives_503_and_ingestion_resumes_without_restart(
    own_postgresql: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_postgresql.create_database("faults")
    async with _daemon(url) as (daemon, base):
        client = Client(base)
        assert await client.events() == 202
        assert await client.report() == 202

        own_postgresql.pause()
        with caplog.at_level("WARNING", logger="monitor.http"):
            for _ in range(3):
                assert await client.events() == 503
                assert await client.report() == 503
        # Said once, not once a request (the rest at DEBUG, counted in the next line).
        said = [r for r in caplog.records if "store unavailable" in r.getMessage()]
        assert [r.levelname for r in said] == ["WARNING"]
        caplog.clear()
        status, body = await client.ready()
        assert status == 503
        assert body["components"]["store"]["ok"] is False  # type: ignore[index]
        # A person's look-up while the store is away: 503, and the log line that says so
        # names the route, never the address in its path.
        with caplog.at_level("DEBUG", logger="monitor.http.errors"):
            async with (
                aiohttp.ClientSession() as s,
                s.get(
                    f"{base}/api/v1/suppressions/locked.person@example.net",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                ) as r,
            ):
                assert r.status == 503
        assert "store unavailable" in caplog.text
        assert all("locked.person" not in str(r.__dict__) for r in caplog.records)

        own_postgresql.resume()
        assert await client.events() == 202
        assert await client.report() == 202
        status, body = await client.ready()
        assert body["components"]["store"] == {"ok": True}  # type: ignore[index]

        delivered = sum(r.totals.delivered for r in await daemon.store.counts(campaign="c"))
        assert delivered == client.acknowledged_events == 10
    dump = own_postgresql.dump("faults").decode()
    assert dump.count("abuse") >= client.acknowledged_reports == 2


# --- SQLite on a full file system ----------------------------------------------------------


@contextlib.contextmanager
def _small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); needs root"
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail(f"{reason} (CI=true runs as root, so it should be possible)")
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    """Take every free byte of the file system (the store's file stays as it is)."""
    filler = directory / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


async def test_sqlite_on_a_full_disk_refuses_cleanly_and_recovers(tmp_path: Path) -> None:
    with _small_tmpfs(tmp_path / "small", "8m") as mount:
        db = mount / "delivermon.db"
        async with _daemon(f"sqlite:///{db}") as (daemon, base):
            client = Client(base)
            assert await client.events() == 202
            filler = _fill(mount)
            statuses = [await client.events(count=200) for _ in range(5)]
            statuses += [await client.report() for _ in range(3)]
            assert 202 not in statuses[-3:]
            assert set(statuses) <= {202, 503}, statuses  # a clear refusal, never a 500
            assert 503 in statuses
            # A read-only probe still gets its answer from a full disk: readiness says the
            # store is not ready because the writes are refused.
            status, body = await client.ready()
            assert status == 503
            assert body["components"]["store"]["ok"] is False  # type: ignore[index]
            filler.unlink()  # space returns
            assert await client.events() == 202
            assert await client.report() == 202
            status, body = await client.ready()
            assert body["components"]["store"] == {"ok": True}  # type: ignore[index]
            delivered = sum(r.totals.delivered for r in await daemon.store.counts(campaign="c"))
            assert delivered == client.acknowledged_events
        with contextlib.closing(sqlite3.connect(db)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            reports = conn.execute("SELECT count(*) FROM feedback_reports").fetchone()[0]
        assert reports == client.acknowledged_reports


# --- SQLite's file removed under the daemon ------------------------------------------------


async def test_a_sqlite_file_removed_while_running_acknowledges_nothing_more(
    tmp_path: Path,
) -> None:
    """The process keeps writing into the file it opened, deleted or not: 202 there would
    be lost at the next start, which opens whatever is at the path then."""
    data = tmp_path / "data"
    db = data / "delivermon.db"
    async with _daemon(f"sqlite:///{db}") as (daemon, base):
        client = Client(base)
        assert await client.events() == 202
        shutil.rmtree(data)
        assert await client.events() == 503
        assert await client.report() == 503
        status, body = await client.ready()
        assert status == 503
        assert body["components"]["store"]["ok"] is False  # type: ignore[index]
        # A job's run over the deleted file does not count as a success either (its
        # reads still answer from the open file): its status, and the stale-job alert
        # built on it, agree with readiness.
        before = daemon.scheduler.status("campaigns")
        assert before is not None
        runs = before.runs
        daemon.scheduler.run_soon("campaigns")
        for _ in range(200):
            if before.runs > runs:
                break
            await asyncio.sleep(0.05)
        assert before.runs > runs
        assert before.failing_since_run is not None
        assert "StoreUnavailableError" in (before.last_error or "")
    assert client.acknowledged_events == 5


async def test_a_sqlite_file_replaced_while_running_acknowledges_nothing_more(
    tmp_path: Path,
) -> None:
    db = tmp_path / "delivermon.db"
    async with _daemon(f"sqlite:///{db}") as (_, base):
        client = Client(base)
        assert await client.events() == 202
        moved = tmp_path / "moved.db"
        db.rename(moved)  # the open file lives on under another name...
        sqlite3.connect(db).close()  # ...and another file is at the path
        assert await client.events() == 503
        status, _ = await client.ready()
        assert status == 503


async def test_a_reload_while_postgresql_is_away_is_refused_with_one_warning(
    own_postgresql: PgServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An expected outage: the reload is refused and the running config kept, said in one
    WARNING line (it was an ERROR with a traceback); once back, a reload works."""
    url = own_postgresql.create_database("reload_away")
    path = tmp_path / "delivermon.toml"
    campaign = '[[campaigns]]\nid = "spring"\ncategory = "commercial"\n'
    path.write_text(_config(url) + campaign)
    daemon = Daemon(
        parse_config(path.read_text()), DaemonOptions(config_path=path, listen="127.0.0.1:0")
    )
    await daemon.start()
    paused = False
    try:
        own_postgresql.pause()
        paused = True
        with caplog.at_level("INFO", logger="monitor.daemon.app"):
            outcome = await daemon.reload()
        assert not outcome.ok
        assert "StoreUnavailableError" in outcome.problems[0]
        said = [r for r in caplog.records if "the store is unavailable" in r.getMessage()]
        assert [(r.levelname, r.exc_info) for r in said] == [("WARNING", None)]
        assert not [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
        own_postgresql.resume()
        paused = False
        assert (await daemon.reload()).ok
    finally:
        if paused:
            own_postgresql.resume()
        await daemon.stop()
