"""No recipient address reaches the database: the SQLite files' bytes and a pg_dump of the
PostgreSQL database are searched for every address written through the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pgserver import PgServer
from sqlitefile import database_bytes

from monitor.model.events import Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store import ReportRecord, open_store

P = Pseudonymizer(b"k" * 32)
NOW = dt.datetime(2025, 3, 10, 10, 20, tzinfo=dt.UTC)
ADDRESSES = [f"person{i}.secret@example-{i}.com" for i in range(20)] + [
    "MixedCase.Person@Example.ORG",
    "tagged+news@bücher.example",
]


def needles(address: str) -> list[bytes]:
    """The address as written, lower-cased, and its local part (the identifying bit)."""
    local = address.split("@")[0]
    forms = {address, address.lower(), local, local.lower()}
    return [form.encode("utf-8") for form in forms]


async def write_everything(url: str) -> None:
    store = await open_store(url)
    events = []
    for i, address in enumerate(ADDRESSES):
        for kind in EventType:
            events.append(
                Event(
                    kind, campaign="spring", occurred_at=NOW, source=Source.SENDGRID,
                    recipient=address, provider=Provider.GOOGLE,
                    idempotency_key=f"{kind}:{address}",  # a careless caller's key
                )
            )  # fmt: skip
        await store.add_report(
            ReportRecord(
                raw_sha256=f"{i:064x}", received_at=NOW, feedback_type="abuse",
                campaign="spring", recipients=(address,), raw=address.encode(),
            ),
            [Event(EventType.COMPLAINT, "spring", NOW, Source.ARF, recipient=address)],
            P,
        )  # fmt: skip
    await store.add_events(events, P)
    await store.close()


async def test_no_address_is_stored_anywhere(
    store_url: str, sqlite_path: Path, request: pytest.FixtureRequest
) -> None:
    await write_everything(store_url)
    if store_url.startswith("sqlite"):
        content = database_bytes(sqlite_path)
    else:
        server: PgServer = request.getfixturevalue("postgresql_server")
        content = server.dump(store_url.rsplit("/", 1)[1])
        assert b"CREATE TABLE public.events" in content  # the dump is the real thing
    assert P.pseudonym(ADDRESSES[0]).encode() in content  # the data is there, pseudonymised
    found = [a for a in ADDRESSES if any(n in content for n in needles(a))]
    assert found == []
