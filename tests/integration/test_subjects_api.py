"""Subject access, erasure and suppression look-ups over HTTP: a real aiohttp server on
127.0.0.1 and the real store. After an erase the export is empty but the suppression stays
and the answer says so; no route ever echoes the address, in a body or a log line."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientSession
from httpapp import api_app
from httpserve import ServeHttp
from logformats import in_both_formats

from monitor.config import Config, HttpConfig
from monitor.http.subjects_api import RedactingAccessLogger
from monitor.model.events import BounceKind, Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store import ReportRecord, SqlStore

ADMIN = "admin-token-for-tests"
INGEST = "ingest-token-for-tests"
NOW = dt.datetime(2026, 11, 28, 12, 30, tzinfo=dt.UTC)
P = Pseudonymizer(b"k" * 32)
ALICE = "alice+news@example.com"
BOB = "bob@gmail.com"
CAROL = "carol@example.org"
ADDRESS_PARTS = ("alice", "bob", "carol", "example.com", "gmail.com", "example.org")


@dataclass
class Api:
    session: ClientSession
    base_url: str
    store: SqlStore

    async def call(self, method: str, path: str, *, token: str | None = ADMIN) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self.session.request(
            method, f"{self.base_url}{path}", headers=headers
        ) as response:
            text = await response.text()
            # No address, nor a part of one, in any answer.
            assert not [part for part in ADDRESS_PARTS if part in text], text
            return response.status, await response.json()


async def start(serve_http: ServeHttp, store: SqlStore, http: HttpConfig) -> str:
    config = Config(http=http)
    app = await api_app(config, store, P, clock=lambda: NOW)
    # As the daemon runs it: the access log must not carry the address in the path.
    return await serve_http(app, access_log_class=RedactingAccessLogger)


@pytest.fixture
async def api(store: SqlStore, serve_http: ServeHttp) -> AsyncIterator[Api]:
    base_url = await start(serve_http, store, HttpConfig(admin_token=ADMIN, ingest_token=INGEST))
    async with ClientSession() as session:
        yield Api(session, base_url, store)


def ev(
    kind: EventType,
    recipient: str,
    ago: dt.timedelta = dt.timedelta(0),
    source: Source = Source.API,
    **kw: Any,
) -> Event:
    return Event(kind, "spring", NOW - ago, source, recipient=recipient, **kw)


async def seed(api: Api) -> None:
    """Alice: a complaint report and three events. Bob: an unsubscribe, posted as an event."""
    await api.store.add_report(
        ReportRecord(
            raw_sha256="ab" * 32,
            received_at=NOW,
            feedback_type="abuse",
            campaign="spring",
            provider=Provider.YAHOO,
            source_ip="192.0.2.10",
            reporter="yahoo.com",
            recipients=(ALICE,),
        ),
        [ev(EventType.COMPLAINT, ALICE, source=Source.ARF, feedback_type="abuse")],
        P,
    )
    await api.store.add_events(
        [ev(EventType.SENT, ALICE, dt.timedelta(days=1)), ev(EventType.DELIVERED, ALICE)], P
    )
    headers = {"Authorization": f"Bearer {INGEST}"}
    body = {
        "events": [
            {
                "type": "unsubscribe",
                "campaign": "spring",
                "recipient": BOB,
                "timestamp": "2026-11-27T08:00:00Z",
            }
        ]
    }
    async with api.session.post(
        f"{api.base_url}/api/v1/events", json=body, headers=headers
    ) as response:
        assert response.status == 202


def subject(address: str) -> str:
    return f"/api/v1/subjects/{quote(address, safe='')}"


async def test_export_shows_reports_events_and_suppression_without_the_address(api: Api) -> None:
    await seed(api)
    status, doc = await api.call("GET", subject(ALICE))
    assert status == 200
    assert doc["subject"] == P.pseudonym(ALICE)[:12]
    (report,) = doc["reports"]
    assert {k: report[k] for k in ("feedback_type", "campaign", "provider", "reporter")} == {
        "feedback_type": "abuse",
        "campaign": "spring",
        "provider": "yahoo",
        "reporter": "yahoo.com",
    }
    assert report["received_at"] == "2026-11-28T12:30:00Z"
    assert [(e["type"], e["occurred_at"]) for e in doc["events"]] == [
        ("sent", "2026-11-27T12:30:00Z"),
        ("complaint", "2026-11-28T12:30:00Z"),
        ("delivered", "2026-11-28T12:30:00Z"),
    ]
    assert doc["suppressed"] is True
    assert doc["suppressions"] == [{"reason": "complaint", "since": "2026-11-28T12:30:00Z"}]


async def test_erase_removes_reports_and_events_and_states_the_kept_suppression(
    api: Api,
) -> None:
    await seed(api)
    counts_before = await api.store.counts()
    status, doc = await api.call("DELETE", subject(ALICE))
    assert status == 200
    assert doc["removed"] == {"reports": 1, "events": 3, "raw_copies": 0}
    assert doc["suppression_kept"] is True
    assert doc["suppression_reasons"] == ["complaint"]
    assert "keeps honouring the opt-out" in doc["note"]

    status, after = await api.call("GET", subject(ALICE))
    assert (status, after["reports"], after["events"], after["suppressed"]) == (200, [], [], True)
    assert (await api.call("GET", f"/api/v1/suppressions/{quote(ALICE)}"))[1]["suppressed"]
    assert await api.store.counts() == counts_before  # aggregates hold no person
    # Bob's data is untouched.
    assert len((await api.call("GET", subject(BOB)))[1]["events"]) == 1


async def test_erasing_someone_suppressed_by_a_bounce_only_says_why_not_opt_out(
    api: Api,
) -> None:
    """The note said "the opt-out" for a suppression no one asked for (a dead address)."""
    await api.store.add_events([ev(EventType.BOUNCE, CAROL, bounce_kind=BounceKind.PERMANENT)], P)
    status, doc = await api.call("DELETE", subject(CAROL))
    assert (status, doc["suppression_kept"], doc["suppression_reasons"]) == (200, True, ["bounce"])
    assert "opt-out" not in doc["note"]
    assert "bounced as one that does not exist" in doc["note"]


async def test_erasing_someone_never_suppressed_keeps_no_marker(api: Api) -> None:
    await api.store.add_events([ev(EventType.DELIVERED, CAROL)], P)
    status, doc = await api.call("DELETE", subject(CAROL))
    assert (status, doc["removed"], doc["suppression_kept"], doc["note"]) == (
        200,
        {"reports": 0, "events": 1, "raw_copies": 0},
        False,
        None,
    )
    assert (await api.call("DELETE", subject(CAROL)))[1]["removed"] == {
        "reports": 0,
        "events": 0,
        "raw_copies": 0,
    }


async def test_suppression_lookup_gives_reasons_and_since(api: Api) -> None:
    await seed(api)
    status, doc = await api.call("GET", f"/api/v1/suppressions/{BOB}", token=INGEST)
    assert (status, doc) == (
        200,
        {"suppressed": True, "reasons": ["unsubscribe"], "since": "2026-11-27T08:00:00Z"},
    )
    status, doc = await api.call("GET", f"/api/v1/suppressions/{quote(CAROL)}", token=ADMIN)
    assert (status, doc) == (200, {"suppressed": False, "reasons": [], "since": None})


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param("alice+news@example.com", id="literal-at"),
        pytest.param("alice%2Bnews%40example.com", id="percent-encoded"),
        pytest.param("Alice+News@EXAMPLE.com", id="mixed-case"),
    ],
)
async def test_any_spelling_of_the_address_finds_the_same_person(api: Api, spelling: str) -> None:
    await seed(api)
    status, doc = await api.call("GET", f"/api/v1/subjects/{spelling}")
    assert (status, len(doc["events"])) == (200, 3)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/subjects/nobody"),
        ("DELETE", "/api/v1/subjects/nobody"),
        ("GET", "/api/v1/subjects/%40example.com"),
        ("DELETE", "/api/v1/subjects/alice%40"),
        ("GET", "/api/v1/suppressions/alice%40bad..domain"),
        ("GET", "/api/v1/suppressions/alice"),
    ],
)
async def test_a_non_address_is_400_json(api: Api, method: str, path: str) -> None:
    assert await api.call(method, path) == (400, {"error": "not an e-mail address"})


ROUTES = [
    ("GET", subject(ALICE), {ADMIN}),
    ("DELETE", subject(ALICE), {ADMIN}),
    ("GET", f"/api/v1/suppressions/{quote(ALICE)}", {ADMIN, INGEST}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES, ids=["export", "erase", "lookup"])
async def test_every_route_needs_its_token(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    await seed(api)
    assert await api.call(method, path, token=None) == (401, {"error": "missing bearer token"})
    assert await api.call(method, path, token="wrong") == (403, {"error": "invalid token"})
    if INGEST not in allowed:
        assert await api.call(method, path, token=INGEST) == (403, {"error": "invalid token"})
        # Refused means nothing happened: Alice's data is all there.
        assert len((await api.call("GET", subject(ALICE)))[1]["events"]) == 3
    for token in allowed:
        assert (await api.call(method, path, token=token))[0] == 200


async def test_subject_routes_refuse_everyone_when_no_admin_token_is_configured(
    store: SqlStore, serve_http: ServeHttp
) -> None:
    base_url = await start(serve_http, store, HttpConfig(ingest_token=INGEST))
    async with ClientSession() as session:
        for token in (INGEST, ""):
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{base_url}{subject(ALICE)}", headers=headers) as answer:
                assert answer.status == (403 if token else 401)


async def test_no_address_reaches_a_log_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await seed(api)
    for method, path, _ in ROUTES:
        await api.call(method, path)
    await api.call("GET", "/api/v1/subjects/alice%40")
    await api.call("GET", "/api/v1/%73uppressions/bob%40gmail.com")
    # Near misses (404s) still carry the address in their path.
    for near in ("//api/v1/subjects/", "/api/v1//subjects/", "/api/v1/Subjects/", "/x/"):
        await api.call("GET", near + "carol.near.miss%40example.org")
        await api.call("GET", near + "carol.near.miss@example.org")
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    logged += in_both_formats(caplog.records)  # as the daemon writes them, text and JSON
    assert "subject erased" in logged
    assert "/api/v1/subjects/redacted" in logged
    assert not [part for part in ADDRESS_PARTS if part in logged]
    assert "carol.near.miss" not in logged
