"""Per-person data on real SQLite and PostgreSQL: export, erasure (the suppression stays and
is stated), suppressions, retention purge and the 48-hour unsubscribe deadline."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from dataclasses import fields
from pathlib import Path

from sqlalchemy import select

from monitor.model.events import (
    BounceDetail,
    BounceKind,
    Category,
    Event,
    EventType,
    Provider,
    Source,
)
from monitor.model.privacy import Pseudonymizer
from monitor.store import (
    EraseResult,
    PurgeResult,
    ReportAudit,
    ReportRecord,
    SqlStore,
    SuppressionReason,
)
from monitor.store.models import EventView, ReportView, SubjectExport
from monitor.store.schema import events, feedback_reports
from monitor.store.subject_documents import export_document

P = Pseudonymizer(b"k" * 32)
NOW = dt.datetime(2025, 3, 10, 10, 20, tzinfo=dt.UTC)
ALICE = "alice@example.com"
BOB = "bob@example.net"


def ev(kind: EventType, **kw: object) -> Event:
    fields: dict[str, object] = {"campaign": "spring", "occurred_at": NOW, "source": Source.API}
    fields.update(kw)
    return Event(kind, **fields)  # type: ignore[arg-type]  # test shorthand over typed fields


def report(sha: str, *recipients: str, received_at: dt.datetime = NOW) -> ReportRecord:
    return ReportRecord(
        raw_sha256=sha, received_at=received_at, feedback_type="abuse", campaign="spring",
        provider=Provider.YAHOO, source_ip="192.0.2.10", reporter="yahoo.com",
        recipients=recipients, audit=ReportAudit(list_unsubscribe_https=True),
        raw=b"raw report for " + ",".join(recipients).encode(),
    )  # fmt: skip


async def test_export_shows_reports_events_and_suppressions_in_utc(store: SqlStore) -> None:
    await store.add_report(
        report("a1" * 32, ALICE), [ev(EventType.COMPLAINT, source=Source.ARF, recipient=ALICE)], P
    )
    await store.add_events(
        [ev(EventType.SENT, recipient=ALICE, occurred_at=NOW - dt.timedelta(days=1))], P
    )
    await store.add_events([ev(EventType.SENT, recipient=BOB)], P)
    export = await store.export_subject(P.pseudonym(ALICE))
    assert [(r.feedback_type, r.reporter, r.received_at) for r in export.reports] == [
        ("abuse", "yahoo.com", NOW)
    ]
    assert [(e.type, e.occurred_at) for e in export.events] == [
        ("sent", NOW - dt.timedelta(days=1)),
        ("complaint", NOW),
    ]
    assert export.suppressed
    assert [(s.reason, s.first_at) for s in export.suppressions] == [
        (SuppressionReason.COMPLAINT, NOW)
    ]
    assert export.events[0].occurred_at.tzinfo is dt.UTC


def test_the_export_holds_every_column_but_keys_pseudonyms_and_the_raw_message() -> None:
    """A column added to a table the export reads is in the export, or this fails."""
    reports = {c.name for c in feedback_reports.columns} - {"raw_sha256", "raw"}
    assert {f.name for f in fields(ReportView)} == reports | {"raw_stored"}
    event_columns = {c.name for c in events.columns} - {"id", "pseudonym"}
    assert {f.name for f in fields(EventView)} == event_columns
    empty = export_document(
        SubjectExport(
            "p" * 64,
            (ReportView("r", NOW, None, "abuse", "spring", "yahoo", None, None, None),),
            (EventView("bounce", "spring", "google", NOW, "api", None, None),),
            (),
        )
    )
    assert set(empty["reports"][0]) == reports | {"raw_stored"}  # type: ignore[index]
    assert set(empty["events"][0]) == event_columns  # type: ignore[index]


async def test_the_export_shows_a_bounce_reply_and_a_failure_report(store: SqlStore) -> None:
    reply = "550 5.7.1 Service unavailable; client [192.0.2.10] blocked using Spamhaus"
    bounce = BounceDetail(
        "blocklist", status="550", enhanced="5.7.1", blocklist="spamhaus", reply=reply
    )
    await store.add_events(
        [ev(EventType.BOUNCE, recipient=ALICE, bounce_kind=BounceKind.PERMANENT, bounce=bounce)],
        P,
    )
    failure = ReportRecord(
        raw_sha256="d4" * 32, received_at=NOW, feedback_type="auth-failure", campaign="spring",
        recipients=(ALICE,), auth_failure="dmarc", identity_alignment="dkim",
        failure_domain="example.com", raw=b"raw",
    )  # fmt: skip
    await store.add_report(failure, [], P, store_raw=True)
    doc = export_document(await store.export_subject(P.pseudonym(ALICE)))
    (event,) = doc["events"]  # type: ignore[misc]
    assert {
        k: event[k] for k in ("bounce_class", "blocklist", "reply_status", "reply_enhanced")
    } == {
        "bounce_class": "blocklist",
        "blocklist": "spamhaus",
        "reply_status": "550",
        "reply_enhanced": "5.7.1",
    }
    assert event["reply_text"] == reply
    (report_doc,) = doc["reports"]  # type: ignore[misc]
    assert {k: report_doc[k] for k in ("auth_failure", "identity_alignment", "failure_domain")} == {
        "auth_failure": "dmarc",
        "identity_alignment": "dkim",
        "failure_domain": "example.com",
    }
    assert report_doc["raw_stored"] is True


async def test_erase_deletes_reports_and_events_and_keeps_the_suppression(store: SqlStore) -> None:
    await store.add_report(
        report("a1" * 32, ALICE), [ev(EventType.COMPLAINT, source=Source.ARF, recipient=ALICE)], P
    )
    await store.add_report(report("b2" * 32, BOB), [], P)
    await store.add_events(
        [ev(EventType.SENT, recipient=ALICE), ev(EventType.DELIVERED, recipient=ALICE)], P
    )
    counts_before = await store.counts()

    erased = await store.erase_subject(P.pseudonym(ALICE))

    assert erased == EraseResult(
        reports=1, events=3, suppression_kept=True, suppression_reasons=("complaint",)
    )
    after = await store.export_subject(P.pseudonym(ALICE))
    assert (after.reports, after.events, after.suppressed) == ((), (), True)
    assert await store.is_suppressed(P.pseudonym(ALICE))
    assert len((await store.export_subject(P.pseudonym(BOB))).reports) == 1
    assert await store.counts() == counts_before  # aggregates hold no person


async def test_erasure_unlinks_a_shared_report_and_its_resending_links_no_one_again(
    store: SqlStore,
) -> None:
    shared = report("c3" * 32, ALICE, BOB)
    complaints = [ev(EventType.COMPLAINT, source=Source.ARF, recipient=who) for who in (ALICE, BOB)]
    first = await store.add_report(shared, complaints, P)

    assert (await store.erase_subject(P.pseudonym(ALICE))).reports == 1

    # Bob's link to the report stays; the raw copy (which named Alice too) does not.
    assert len((await store.export_subject(P.pseudonym(BOB))).reports) == 1
    async with store._engine.connect() as conn:  # the test reads what was written
        raw = await conn.scalar(select(feedback_reports.c.raw))
    assert raw is None
    # The same report re-sent (a feedback loop's retry) is the duplicate it is, and
    # links Alice to nothing again.
    again = await store.add_report(shared, complaints, P)
    assert (again.id, again.duplicate) == (first.id, True)
    assert (await store.export_subject(P.pseudonym(ALICE))).reports == ()


async def test_erasing_someone_never_suppressed_says_no_marker_was_kept(store: SqlStore) -> None:
    await store.add_events([ev(EventType.DELIVERED, recipient=BOB)], P)
    assert await store.erase_subject(P.pseudonym(BOB)) == EraseResult(0, 1, suppression_kept=False)
    assert not await store.is_suppressed(P.pseudonym(BOB))


async def test_unsubscribes_complaints_and_permanent_bounces_suppress(store: SqlStore) -> None:
    people = {f"u{i}@example.com": kind for i, kind in enumerate(["u", "c", "p", "t", "d"])}
    make = {
        "u": lambda r: ev(EventType.UNSUBSCRIBE, recipient=r),
        "c": lambda r: ev(EventType.COMPLAINT, recipient=r),
        "p": lambda r: ev(EventType.BOUNCE, recipient=r, bounce_kind=BounceKind.PERMANENT),
        "t": lambda r: ev(EventType.BOUNCE, recipient=r, bounce_kind=BounceKind.TRANSIENT),
        "d": lambda r: ev(EventType.DELIVERED, recipient=r),
    }
    await store.add_events([make[kind](who) for who, kind in people.items()], P)
    suppressed = {kind: await store.is_suppressed(P.pseudonym(who)) for who, kind in people.items()}
    assert suppressed == {"u": True, "c": True, "p": True, "t": False, "d": False}


async def test_the_suppression_keeps_the_earliest_time_whatever_the_arrival_order(
    store: SqlStore,
) -> None:
    early = NOW - dt.timedelta(days=2)
    await store.add_events([ev(EventType.UNSUBSCRIBE, recipient=ALICE)], P)
    await store.add_events([ev(EventType.UNSUBSCRIBE, recipient=ALICE, occurred_at=early)], P)
    await store.add_events([ev(EventType.UNSUBSCRIBE, recipient=ALICE, occurred_at=NOW)], P)
    (mark,) = (await store.export_subject(P.pseudonym(ALICE))).suppressions
    assert mark.first_at == early


async def test_purge_deletes_old_personal_rows_and_keeps_counters_and_suppressions(
    store: SqlStore,
) -> None:
    old = NOW - dt.timedelta(days=100)
    await store.add_report(report("a1" * 32, ALICE, received_at=old), [], P)
    await store.add_report(report("b2" * 32, BOB), [], P)
    await store.add_events(
        [
            ev(EventType.UNSUBSCRIBE, recipient=ALICE, occurred_at=old, idempotency_key="k1"),
            ev(EventType.SENT, recipient=BOB),
        ],
        P,
    )
    counts_before = await store.counts()
    purged = await store.purge(NOW - dt.timedelta(days=90))
    # The idempotency key was claimed just now (seen_at), so it is not yet old.
    assert purged == PurgeResult(events=1, reports=1, idempotency_keys=0)
    alice = await store.export_subject(P.pseudonym(ALICE))
    assert (alice.reports, alice.events, alice.suppressed) == ((), (), True)
    bob = await store.export_subject(P.pseudonym(BOB))
    assert (len(bob.reports), len(bob.events)) == (1, 1)
    assert await store.counts() == counts_before
    assert (
        await store.purge(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    ).idempotency_keys == 1


async def test_the_purge_keeps_the_audit_counts_for_the_counter_not_for_the_risk(
    store: SqlStore,
) -> None:
    """delivermon_one_click_audits_total read the reports kept, so it fell when the purge
    deleted some (Prometheus: a counter reset, then the rest counted as an increase)."""
    old = NOW - dt.timedelta(days=100)
    compliant = ReportAudit(True, True, True, True)
    for i, (at, audit) in enumerate([(old, compliant), (old, ReportAudit()), (NOW, compliant)]):
        record = dataclasses.replace(report(f"{i:02d}" * 32, ALICE, received_at=at), audit=audit)
        await store.add_report(record, [], P)
    other = dataclasses.replace(report("ff" * 32, BOB, received_at=old), campaign="autumn")
    await store.add_report(other, [], P)
    before = await store.audit_counts(purged=True)
    assert [(a.campaign, a.complaint_reports, a.one_click_compliant) for a in before] == [
        ("autumn", 1, 0),
        ("spring", 3, 2),
    ]
    assert (await store.purge(NOW - dt.timedelta(days=90))).reports == 3
    assert await store.audit_counts(purged=True) == before
    # What the risk reads: the reports within the retention period only.
    (kept,) = await store.audit_counts()
    assert (kept.campaign, kept.complaint_reports, kept.audited) == ("spring", 1, 1)
    # A second purge of the same period adds nothing (the reports are gone).
    await store.purge(NOW - dt.timedelta(days=90))
    assert await store.audit_counts(purged=True) == before
    assert await store.audit_counts("autumn", purged=True) == before[:1]


async def test_a_send_more_than_48h_after_an_opt_out_is_a_violation_per_campaign(
    store: SqlStore,
) -> None:
    await store.upsert_campaign("receipts", category=Category.TRANSACTIONAL, consent=None)
    opted_out = NOW - dt.timedelta(days=5)
    await store.add_events(
        [
            ev(EventType.UNSUBSCRIBE, recipient=ALICE, occurred_at=opted_out),
            ev(EventType.COMPLAINT, recipient=BOB, occurred_at=opted_out),
        ],
        P,
    )
    await store.add_events(
        [
            ev(EventType.SENT, recipient=ALICE, occurred_at=opted_out + dt.timedelta(hours=47)),
            ev(EventType.SENT, recipient=ALICE, occurred_at=opted_out + dt.timedelta(hours=49)),
            ev(EventType.SENT, recipient=BOB, campaign="autumn"),
            ev(EventType.SENT, recipient=ALICE, campaign="receipts"),  # transactional: allowed
            ev(EventType.SENT, recipient="carol@example.com"),  # never opted out
        ],
        P,
    )
    violations = {row.campaign: row.totals.unsubscribe_violations for row in await store.counts()}
    assert violations == {"spring": 1, "autumn": 1, "receipts": 0}


async def test_an_opt_out_and_a_late_send_in_one_batch_are_caught(store: SqlStore) -> None:
    await store.add_events(
        [
            ev(EventType.SENT, recipient=ALICE),
            ev(EventType.UNSUBSCRIBE, recipient=ALICE, occurred_at=NOW - dt.timedelta(days=3)),
        ],
        P,
    )
    (row,) = await store.counts()
    assert row.totals.unsubscribe_violations == 1


async def test_the_pseudonym_key_is_recorded_and_another_one_refused(store: SqlStore) -> None:
    from monitor.store.subjects import KeyCheck

    other = Pseudonymizer(b"o" * 32)
    assert P.fingerprint() != other.fingerprint()
    assert P.key.decode() not in P.fingerprint()
    check = store.check_pseudonym_key
    assert await check(P.fingerprint(), key_is_new=False, now=NOW) is KeyCheck.RECORDED
    assert await check(P.fingerprint(), key_is_new=True, now=NOW) is KeyCheck.MATCHES
    assert await check(other.fingerprint(), key_is_new=False, now=NOW) is KeyCheck.OTHER_KEY
    await store.replace_pseudonym_key(other.fingerprint(), NOW)
    assert await check(other.fingerprint(), key_is_new=False, now=NOW) is KeyCheck.MATCHES
    assert await check(P.fingerprint(), key_is_new=False, now=NOW) is KeyCheck.OTHER_KEY


async def test_a_store_from_before_key_records_takes_its_key_unless_it_was_just_made(
    store: SqlStore,
) -> None:
    """Stores made before migration 0010 recorded no key: the key they are opened with is
    theirs, unless that key was created just now while pseudonyms are already stored."""
    from monitor.store.subjects import KeyCheck

    await store.add_events([ev(EventType.UNSUBSCRIBE, recipient=ALICE)], P)
    new = Pseudonymizer(b"n" * 32)
    assert await store.check_pseudonym_key(new.fingerprint(), key_is_new=True, now=NOW) is (
        KeyCheck.UNKNOWN_KEY
    )
    assert await store.check_pseudonym_key(P.fingerprint(), key_is_new=False, now=NOW) is (
        KeyCheck.RECORDED
    )


VICTOR = "Victor.Victim@example.net"


def _arf_naming(
    to: str, *, base64_original: bool = False, header: str = "", body: str = "body"
) -> bytes:
    """An ARF report without Original-Rcpt-To (RFC 5965 §3.2: optional) whose original
    message names its recipient only in its To: header (or as ``header``/``body`` say)."""
    to_header = header or f"To: Victor Victim <{to}>"
    original = f"From: news@example.com\r\n{to_header}\r\nSubject: hi\r\n\r\n{body}\r\n"
    encoding = ""
    if base64_original:
        encoding = "Content-Transfer-Encoding: base64\r\n"
        original = base64.encodebytes(original.encode()).decode()
    return (
        "From: fbl@example.org\r\nTo: abuse@example.com\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        "--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
        "User-Agent: test/1\r\nVersion: 1\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n{encoding}\r\n{original}\r\n--b--\r\n"
    ).encode()


async def test_a_raw_report_naming_the_person_unlinked_is_exported_and_erased(
    store: SqlStore,
) -> None:
    """A report that names the person only in its original (no Original-Rcpt-To) has no
    link to them: the erasure and the export read the raw copies for the address, in the
    forms a message carries it in (a To: header plain, base64 or RFC 2047 encoded, a
    List-Unsubscribe or body link with the address in its query or path, URL-escaped)."""
    victor = "victor.victim@example.net"
    b_word = base64.b64encode(f"Victor Victim <{victor}>".encode()).decode()
    link = "https://example.com/u?email="
    token = base64.urlsafe_b64encode(victor.encode()).decode().rstrip("=")
    other = base64.b64encode(f"jim.{victor}".encode()).decode()
    naming = [
        _arf_naming(victor),
        _arf_naming(victor, base64_original=True),
        _arf_naming(victor, header=f"To: =?utf-8?B?{b_word}?="),
        _arf_naming(
            victor, header="To: =?utf-8?Q?Victor_=3Cvictor.vic?= =?utf-8?Q?tim=40example.net=3E?="
        ),
        _arf_naming(victor, header=f"To: undisclosed:;\r\nList-Unsubscribe: <{link}{victor}>"),
        _arf_naming(
            victor, header="To: undisclosed:;", body=f"Leave: https://example.com/u/{victor}"
        ),
        _arf_naming(
            victor, header="To: undisclosed:;", body=f"{link}victor.victim%40example.net&x=1"
        ),
        # A redirect's double escape, HTML's and JavaScript's escapes, a base64 token in a
        # link's path, a quoted local part (the verification pass found these missed).
        _arf_naming(victor, header="To: -", body=f"{link}victor.victim%2540example.net"),
        _arf_naming(victor, header="To: -", body="<a>victor.victim&#64;example.net</a>"),
        _arf_naming(victor, header="To: -", body='e = "victor.victim\\u0040example.net"'),
        _arf_naming(victor, header="To: -", body=f"https://example.com/u/{token}/stop"),
        _arf_naming(victor, header='To: "victor.victim"@example.net'),
        # A link's token in a quoted-printable HTML body (?t=3D<token>, with a soft break
        # in it), and "&#64" without its semicolon (the second pass found both missed).
        _arf_naming(victor, header="To: -", body=f'<a href=3D"u?t=3D{token[:8]}=\r\n{token[8:]}">'),
        _arf_naming(victor, header="To: -", body="<b>victor.victim&#64example.net</b>"),
    ]
    others = [
        _arf_naming("jim.victor.victim@example.net"),  # someone else
        _arf_naming("victor.victim@example.net.example"),  # another domain
        _arf_naming(
            victor, header="To: undisclosed:;", body=f"{link}jim.victor.victim%40example.net"
        ),
        _arf_naming(victor, header="To: -", body="victor.victim@example.net_x.org"),
        _arf_naming(victor, header="To: -", body=f"https://example.com/u/{other}"),
    ]
    named = [
        dataclasses.replace(report(f"{i:02x}" * 32), raw=raw)
        for i, raw in enumerate([*naming, *others])
    ]
    ids = [(await store.add_report(r, [], P, store_raw=True)).id for r in named]
    pseudonym = P.pseudonym(VICTOR)
    assert (await store.export_subject(pseudonym)).reports == ()  # no link: not found so
    exported = await store.export_subject(pseudonym, address=VICTOR)
    assert sorted(r.id for r in exported.reports) == sorted(ids[: len(naming)])
    erased = await store.erase_subject(pseudonym, address=VICTOR)
    assert erased.raw_copies == len(naming)
    async with store._engine.connect() as conn:  # the test reads what was written
        rows = dict(
            (await conn.execute(select(feedback_reports.c.id, feedback_reports.c.raw))).all()
        )
    assert [rows[i] is None for i in ids] == [True] * len(naming) + [False] * len(others)


async def test_an_erased_address_is_left_in_neither_the_database_file_nor_its_wal(
    sqlite_store: SqlStore, sqlite_path: Path
) -> None:
    """The raw copy naming the person is deleted by the erasure; the pages it was on
    stayed in the WAL file (and could in the database file's free pages) until later
    writes overwrote them. The erasure now empties the WAL, and deleted content is
    overwritten (secure_delete)."""
    wal = sqlite_path.with_name(sqlite_path.name + "-wal")
    raw = _arf_naming("victor.victim@example.net")
    await sqlite_store.add_report(
        dataclasses.replace(report("f0" * 32), raw=raw), [], P, store_raw=True
    )

    def found() -> int:
        return sum(
            p.read_bytes().lower().count(b"victor.victim@example.net")
            for p in (sqlite_path, wal)
            if p.exists()
        )

    assert found() > 0  # the raw copy is on disk, in one file or the other
    erased = await sqlite_store.erase_subject(P.pseudonym(VICTOR), address=VICTOR)
    assert erased.raw_copies == 1
    assert found() == 0
