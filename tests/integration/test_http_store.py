"""POST /api/v1/events end to end: a real aiohttp server on 127.0.0.1 and the real store.

Acknowledged (202) means committed: counts are read back from the database,
re-sent events count once, and no address reaches the database file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from httpapp import api_app
from httpserve import ServeHttp, post_for_json
from sqlitefile import database_bytes

from monitor.config import Config, HttpConfig
from monitor.model.privacy import Pseudonymizer
from monitor.store.store import SqlStore

TOKEN = "ingest-token-for-tests"
NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
ADDRESSES = ["alice@example.com", "bob@gmail.com"]


@pytest.fixture
async def base_url(sqlite_store: SqlStore, serve_http: ServeHttp) -> str:
    app = await api_app(
        Config(http=HttpConfig(ingest_token=TOKEN)),
        sqlite_store,
        Pseudonymizer(b"k" * 32),
        clock=lambda: NOW,
    )
    return await serve_http(app)


async def post(base_url: str, events: list[dict[str, object]]) -> tuple[int, dict[str, object]]:
    body = json.dumps({"events": events})
    headers = {"Content-Type": "application/json"}
    return await post_for_json(f"{base_url}/api/v1/events", body, token=TOKEN, headers=headers)


async def test_accepted_events_are_committed_and_counted(
    base_url: str, sqlite_store: SqlStore
) -> None:
    status, body = await post(
        base_url,
        [
            {"type": "sent", "campaign": "spring", "count": 1000},
            {"type": "delivered", "campaign": "spring", "count": 990},
            {"type": "complaint", "campaign": "spring", "recipient": ADDRESSES[1], "id": "c-1"},
            {"type": "unsubscribe", "campaign": "spring", "recipient": ADDRESSES[0], "id": "u-1"},
        ],
    )
    assert (status, body) == (202, {"accepted": 4, "duplicates": 0})
    rows = await sqlite_store.counts(campaign="spring")
    assert sum(r.totals.sent for r in rows) == 1000
    assert sum(r.totals.delivered for r in rows) == 990
    assert sum(r.totals.complaints for r in rows) == 1
    assert sum(r.totals.unsubscribes for r in rows) == 1
    assert {r.provider for r in rows if r.totals.complaints} == {"google"}


async def test_resent_events_with_the_same_id_count_once(
    base_url: str, sqlite_store: SqlStore
) -> None:
    event = {"type": "complaint", "campaign": "spring", "recipient": ADDRESSES[0], "id": "c-9"}
    assert await post(base_url, [event]) == (202, {"accepted": 1, "duplicates": 0})
    assert await post(base_url, [event]) == (202, {"accepted": 0, "duplicates": 1})
    rows = await sqlite_store.counts(campaign="spring")
    assert sum(r.totals.complaints for r in rows) == 1


async def test_a_refused_batch_stores_nothing(base_url: str, sqlite_store: SqlStore) -> None:
    status, _ = await post(
        base_url,
        [
            {"type": "sent", "campaign": "spring", "count": 5},
            {"type": "sent", "campaign": "bad id"},
        ],
    )
    assert status == 400
    assert await sqlite_store.counts() == ()


async def test_no_address_reaches_the_database_file(
    base_url: str, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    events = [
        {"type": "complaint", "campaign": "spring", "recipient": a, "id": f"k{i}"}
        for i, a in enumerate(ADDRESSES)
    ]
    assert (await post(base_url, events))[0] == 202
    await sqlite_store.close()  # flush the WAL into the main file too
    data = database_bytes(sqlite_path)
    for address in ADDRESSES:
        assert address.encode() not in data
        assert address.split("@")[0].encode() not in data
