"""POST /api/v1/feedback/arf on a real aiohttp server on 127.0.0.1 over a real SQLite store.

A report is acknowledged (202) only once committed, and counted once however often it
is re-sent; every refusal (credentials, media type, non-ARF, malformed, too large) leaves
every table empty. Row counts are read back from the database file itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from httpapp import api_app
from httpserve import ServeHttp, post_for_json
from sqlitefile import database_bytes, row_counts

from monitor.config import Config, HttpConfig
from monitor.http.subjects_api import RedactingAccessLogger
from monitor.model.events import Event, EventType, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store.store import SqlStore

TOKEN = "ingest-token-for-tests"
NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
RECIPIENT = "victim@gmail.com"
TABLES = (
    "feedback_reports",
    "report_recipients",
    "events",
    "event_keys",
    "counters",
    "suppressions",
)

StartServer = Callable[[Config], Awaitable[str]]


def arf_report(
    *,
    campaign: str = "spring-sale",
    feedback_type: str = "abuse",
    message_id: str = "m-1",
    user_agent: str = "SomeGenerator/1.0",
) -> bytes:
    """An RFC 5965 report (after RFC 5965 appendix B.1) about one original message."""
    lines = [
        "From: <fbl@mailbox.example>",
        "Date: Fri, 27 Nov 2026 17:40:36 +0000",
        "Subject: FW: Spring sale",
        "To: <fbl-reports@sender.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"',
        "",
        "--b1",
        'Content-Type: text/plain; charset="US-ASCII"',
        "",
        "This is an email abuse report.",
        "",
        "--b1",
        "Content-Type: message/feedback-report",
        "",
        f"Feedback-Type: {feedback_type}",
        f"User-Agent: {user_agent}",
        "Version: 1",
        "Original-Mail-From: <news@sender.example>",
        f"Original-Rcpt-To: <{RECIPIENT}>",
        "Arrival-Date: Fri, 27 Nov 2026 14:00:00 +0000",
        "Reporting-MTA: dns; mx.mailbox.example",
        "Source-IP: 192.0.2.1",
        "",
        "--b1",
        "Content-Type: message/rfc822",
        "",
        "From: <news@sender.example>",
        f"To: <{RECIPIENT}>",
        "Subject: Spring sale",
        f"Message-ID: <{message_id}@sender.example>",
        f"X-Campaign-ID: {campaign}",
        "Date: Fri, 27 Nov 2026 13:59:00 +0000",
        "",
        "Buy now.",
        "--b1--",
        "",
    ]
    return "\r\n".join(lines).encode()


PLAIN_MESSAGE = (
    f"From: <news@sender.example>\r\nTo: <{RECIPIENT}>\r\nSubject: hi\r\n\r\nHello.\r\n"
).encode()
DELIVERY_STATUS = (
    "From: MAILER-DAEMON@mx.example\r\n"
    f"To: <{RECIPIENT}>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
    f"Final-Recipient: rfc822; {RECIPIENT}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
    "--b--\r\n"
).encode()
NO_BOUNDARY = (
    b"From: <fbl@mailbox.example>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=feedback-report\r\n\r\nbody\r\n"
)


def table_counts(db: Path) -> dict[str, int]:
    return row_counts(db, TABLES)


EMPTY = dict.fromkeys(TABLES, 0)


@pytest.fixture
def start_server(sqlite_store: SqlStore, serve_http: ServeHttp) -> StartServer:
    async def start(config: Config) -> str:
        app = await api_app(
            config,
            sqlite_store,
            Pseudonymizer(b"k" * 32),
            clock=lambda: NOW,
        )
        # As the daemon serves it: the suppressions route has an address in its path.
        return await serve_http(app, access_log_class=RedactingAccessLogger)

    return start


@pytest.fixture
async def base_url(start_server: StartServer) -> str:
    return await start_server(Config(http=HttpConfig(ingest_token=TOKEN, max_body_bytes=64 * 1024)))


async def post_arf(
    base_url: str,
    body: bytes,
    *,
    token: str | None = TOKEN,
    content_type: str = "message/rfc822",
) -> tuple[int, dict[str, object]]:
    url = f"{base_url}/api/v1/feedback/arf"
    return await post_for_json(url, body, token=token, headers={"Content-Type": content_type})


async def suppressed_since(base_url: str, address: str) -> object:
    """``since`` of ``GET /api/v1/suppressions/{address}``."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{base_url}/api/v1/suppressions/{address}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as answer,
    ):
        assert answer.status == 200
        return (await answer.json())["since"]


# --- accepted ---------------------------------------------------------------------------


async def test_report_is_committed_then_acknowledged_with_id_campaign_and_type(
    base_url: str, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    status, body = await post_arf(base_url, arf_report())
    assert status == 202
    assert set(body) == {"id", "campaign", "feedback_type", "duplicate"}
    assert (body["campaign"], body["feedback_type"], body["duplicate"]) == (
        "spring-sale",
        "abuse",
        False,
    )
    assert re.fullmatch(r"[0-9a-f]{32}", str(body["id"]))
    rows = await sqlite_store.counts(campaign="spring-sale")
    assert sum(r.totals.complaints for r in rows) == 1
    assert {r.provider for r in rows} == {"google"}
    assert table_counts(sqlite_path)["feedback_reports"] == 1


async def test_resent_report_is_a_duplicate_counted_once(
    base_url: str, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    _, first = await post_arf(base_url, arf_report())
    status, again = await post_arf(base_url, arf_report())
    assert status == 202
    assert again == {**first, "duplicate": True}
    assert sum(r.totals.complaints for r in await sqlite_store.counts()) == 1
    assert table_counts(sqlite_path)["feedback_reports"] == 1


async def test_an_address_in_the_user_agent_is_not_stored(
    base_url: str, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    agent = "Feedback loop for abuse.desk@mailbox.example (v2)"
    status, _ = await post_arf(base_url, arf_report(user_agent=agent))
    assert status == 202
    await sqlite_store.close()  # the WAL into the main file too
    data = database_bytes(sqlite_path)
    assert b"Feedback loop for <redacted> (v2)" in data  # the rest of it is kept
    assert b"abuse.desk" not in data


async def test_a_recipient_that_is_no_address_is_dropped_and_the_complaint_kept(
    base_url: str, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    status, body = await post_arf(base_url, arf_report().replace(b"victim@", b"victim@x@"))
    assert (status, body["duplicate"]) == (202, False)
    assert sum(r.totals.complaints for r in await sqlite_store.counts()) == 1
    counts = table_counts(sqlite_path)
    assert (counts["report_recipients"], counts["suppressions"]) == (0, 0)


async def test_an_arrival_date_far_ahead_is_not_believed_the_complaint_counts_now(
    base_url: str, sqlite_store: SqlStore
) -> None:
    """A reporter's clock set to 2035 must not keep the complaint in every "last hour"
    window (and its suppression dated) until 2035: like an unreadable Arrival-Date, it
    is dated when it arrived; a day ahead is still believed (clocks drift)."""
    future = arf_report().replace(
        b"Arrival-Date: Fri, 27 Nov 2026 14:00:00 +0000",
        b"Arrival-Date: Mon, 01 Jan 2035 00:00:00 +0000",
    )
    status, _ = await post_arf(base_url, future)
    assert status == 202
    ahead = dt.timedelta(hours=20)
    drifted = arf_report(message_id="m-2").replace(
        b"Arrival-Date: Fri, 27 Nov 2026 14:00:00 +0000",
        (NOW + ahead).strftime("Arrival-Date: %a, %d %b %Y %H:%M:%S +0000").encode(),
    )
    assert (await post_arf(base_url, drifted))[0] == 202
    now_hour = await sqlite_store.counts(since=NOW, until=NOW + dt.timedelta(hours=1))
    assert sum(r.totals.complaints for r in now_hour) == 1
    later = await sqlite_store.counts(since=NOW + dt.timedelta(hours=1))
    assert sum(r.totals.complaints for r in later) == 1  # the drifted one, at its own date


async def test_a_late_report_opts_out_from_when_it_came_not_from_its_arrival_date(
    base_url: str, sqlite_store: SqlStore
) -> None:
    """Arrival-Date is when the original message arrived (RFC 5965 §3.2), often days before
    the report: the 48-hour unsubscribe deadline runs from when delivermon learned of the
    complaint, or a send a minute after the report would be a violation at once."""
    late = arf_report().replace(
        b"Arrival-Date: Fri, 27 Nov 2026 14:00:00 +0000",
        b"Arrival-Date: Fri, 20 Nov 2026 14:00:00 +0000",
    )
    assert (await post_arf(base_url, late))[0] == 202
    assert await suppressed_since(base_url, RECIPIENT) == "2026-11-28T12:00:00Z"  # NOW
    for when in (NOW + dt.timedelta(minutes=1), NOW + dt.timedelta(hours=49)):
        sent = Event(EventType.SENT, "spring-sale", when, Source.API, recipient=RECIPIENT)
        await sqlite_store.add_events([sent], Pseudonymizer(b"k" * 32))
    rows = await sqlite_store.counts(campaign="spring-sale")
    assert sum(r.totals.unsubscribe_violations for r in rows) == 1  # the one 49 h after
    # An Arrival-Date up to a day ahead is believed for the rates, not for the deadline.
    ahead = (
        arf_report(message_id="m-ahead")
        .replace(
            b"Arrival-Date: Fri, 27 Nov 2026 14:00:00 +0000",
            b"Arrival-Date: Sun, 29 Nov 2026 08:00:00 +0000",
        )
        .replace(RECIPIENT.encode(), b"other@gmail.com")
    )
    assert (await post_arf(base_url, ahead))[0] == 202
    assert await suppressed_since(base_url, "other@gmail.com") == "2026-11-28T12:00:00Z"
    # the complaint itself still counts when the mail arrived (docs/metrics.md)
    week = await sqlite_store.counts(since=dt.datetime(2026, 11, 20, 14, tzinfo=dt.UTC))
    day = await sqlite_store.counts(since=dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC))
    # (the late one on 20 November, the one ahead on 29 November: only that one is recent)
    assert (sum(r.totals.complaints for r in week), sum(r.totals.complaints for r in day)) == (2, 1)


async def test_each_recipient_of_a_report_counts_under_its_own_provider(
    base_url: str, sqlite_store: SqlStore
) -> None:
    """An aggregated report naming recipients at several mailbox providers (RFC 5965
    §3.2 allows Original-Rcpt-To more than once)."""
    several = arf_report().replace(
        f"Original-Rcpt-To: <{RECIPIENT}>".encode(),
        b"Original-Rcpt-To: <m1@gmail.com>\r\nOriginal-Rcpt-To: <m2@yahoo.com>\r\n"
        b"Original-Rcpt-To: <m3@outlook.com>",
    )
    assert (await post_arf(base_url, several))[0] == 202
    rows = await sqlite_store.counts(campaign="spring-sale")
    providers = {r.provider: r.totals.complaints for r in rows if r.totals.complaints}
    assert providers == {"google": 1, "yahoo": 1, "microsoft": 1}


async def test_incidents_is_not_counted_one_complaint_per_recipient(
    base_url: str, sqlite_store: SqlStore
) -> None:
    """The README's limitation: `Incidents: 5` (RFC 5965 §3.2) still counts one complaint."""
    five = arf_report().replace(b"Version: 1\r\n", b"Version: 1\r\nIncidents: 5\r\n")
    assert b"Incidents: 5" in five
    assert (await post_arf(base_url, five))[0] == 202
    assert sum(r.totals.complaints for r in await sqlite_store.counts()) == 1


async def test_not_spam_report_is_stored_but_is_no_complaint(
    base_url: str, sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    status, body = await post_arf(base_url, arf_report(feedback_type="not-spam"))
    assert (status, body["feedback_type"]) == (202, "not-spam")
    assert sum(r.totals.complaints for r in await sqlite_store.counts()) == 0
    assert table_counts(sqlite_path)["feedback_reports"] == 1


@pytest.mark.parametrize(
    "content_type",
    ["message/rfc822", "text/plain; charset=us-ascii", "application/octet-stream"],
)
async def test_accepted_media_types(base_url: str, content_type: str) -> None:
    status, _ = await post_arf(base_url, arf_report(), content_type=content_type)
    assert status == 202


async def test_every_corpus_report_is_stored_then_recognised_as_duplicate(
    corpus_dir: Path, base_url: str, sqlite_path: Path
) -> None:
    files = sorted((corpus_dir / "arf").glob("*.eml"))
    first = [await post_arf(base_url, p.read_bytes()) for p in files]
    again = [await post_arf(base_url, p.read_bytes()) for p in files]
    assert [(s, b["duplicate"]) for s, b in first] == [(202, False)] * len(files)
    assert [(s, b["duplicate"]) for s, b in again] == [(202, True)] * len(files)
    assert [b["id"] for _, b in again] == [b["id"] for _, b in first]
    assert table_counts(sqlite_path)["feedback_reports"] == len(files)


# --- refused: nothing stored --------------------------------------------------------------


async def test_missing_token_is_401_and_wrong_token_403_storing_nothing(
    base_url: str, sqlite_path: Path
) -> None:
    status, body = await post_arf(base_url, arf_report(), token=None)
    assert (status, body) == (401, {"error": "missing bearer token"})
    status, body = await post_arf(base_url, arf_report(), token="wrong")
    assert (status, body) == (403, {"error": "invalid token"})
    assert table_counts(sqlite_path) == EMPTY


async def test_unconfigured_ingest_token_refuses_everything(
    start_server: StartServer, sqlite_path: Path
) -> None:
    base_url = await start_server(Config())
    status, _ = await post_arf(base_url, arf_report(), token="anything")
    assert status == 403
    status, _ = await post_arf(base_url, arf_report(), token=None)
    assert status == 401  # README: 401 without a token, 403 with one, configured or not
    assert table_counts(sqlite_path) == EMPTY


async def test_other_media_type_is_415(base_url: str, sqlite_path: Path) -> None:
    status, body = await post_arf(base_url, arf_report(), content_type="application/json")
    assert status == 415
    assert "error" in body
    assert table_counts(sqlite_path) == EMPTY


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(PLAIN_MESSAGE, "not_multipart_report", id="plain-message"),
        pytest.param(DELIVERY_STATUS, "delivery_status_notification", id="bounce"),
    ],
)
async def test_non_arf_mail_is_422_with_reason(
    base_url: str, sqlite_path: Path, raw: bytes, reason: str
) -> None:
    status, body = await post_arf(base_url, raw)
    assert (status, body["reason"]) == (422, reason)
    assert isinstance(body["error"], str)
    assert table_counts(sqlite_path) == EMPTY


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\r\n \r\n", "empty", id="blank"),
        pytest.param(NO_BOUNDARY, "missing_boundary", id="no-boundary"),
    ],
)
async def test_malformed_report_is_400_with_reason(
    base_url: str, sqlite_path: Path, raw: bytes, reason: str
) -> None:
    status, body = await post_arf(base_url, raw)
    assert (status, body["reason"]) == (400, reason)
    assert table_counts(sqlite_path) == EMPTY


async def test_body_over_max_body_bytes_is_413_as_json(base_url: str, sqlite_path: Path) -> None:
    huge = arf_report() + b"x" * (65 * 1024)
    status, body = await post_arf(base_url, huge)
    assert (status, body) == (413, {"error": "request body too large"})
    assert table_counts(sqlite_path) == EMPTY


async def test_refusal_is_logged_at_warning_with_the_reason_and_no_address(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, body = await post_arf(base_url, PLAIN_MESSAGE)
    assert status == 422
    refusals = [r for r in caplog.records if r.name == "monitor.http.mail_api"]
    assert [(r.levelno, "not_multipart_report" in r.getMessage()) for r in refusals] == [
        (logging.WARNING, True)
    ]
    assert RECIPIENT not in caplog.text
    assert RECIPIENT not in str(body)
