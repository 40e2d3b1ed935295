"""The store's write transactions as plans: which statements, with which rows, in what order.

A plan is a generator that yields a :class:`Query` and is sent back the rows the
statement returned (``[]`` for one that returns none); it does no I/O. One plan
runs over SQLAlchemy (PostgreSQL: each statement awaited) and over the sqlite3
connection in aiosqlite's thread (SQLite: the whole transaction in one hand-off),
see ``monitor.store.runners``. Datetimes go in aware; ``bind_time`` turns them
into what the runner binds (itself for SQLAlchemy, naive UTC text for sqlite3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

from monitor.model.events import Category, Consent, EventType
from monitor.store import batch
from monitor.store.models import AddResult, ReportResult
from monitor.store.schema import BOUNCE_COUNTER_COLUMNS, COUNTER_COLUMNS, DMARC_ROW_KEYS

__all__ = [
    "COLUMNS",
    "DMARC_ROW_COLUMNS",
    "BindTime",
    "PendingReport",
    "Plan",
    "Query",
    "Row",
    "Statement",
    "add_events_plan",
    "store_reports_plan",
]

# A row of bind values or of results: positional, in the statement's column order.
# (Values of several types per row, so the element type is open.)
Row = tuple[Any, ...]
BindTime = Callable[[dt.datetime], object]


class Statement(StrEnum):
    """The write statements; rows and results are in the order of ``COLUMNS``."""

    INSERT_REPORTS = "insert_reports"  # ON CONFLICT (raw_sha256) DO NOTHING RETURNING id
    FIND_REPORTS = "find_reports"  # raw_sha256 IN rows -> (raw_sha256, id)
    INSERT_RECIPIENTS = "insert_recipients"
    CLAIM_KEYS = "claim_keys"  # ON CONFLICT DO NOTHING RETURNING source, key_sha256
    CAMPAIGN_LABELS = "campaign_labels"  # id IN rows -> (id, category, consent)
    UPSERT_SUPPRESSIONS = "upsert_suppressions"  # keeps the earliest first_at
    OPTED_OUT = "opted_out"  # pseudonym IN rows -> (pseudonym, earliest opt-out)
    UPSERT_COUNTERS = "upsert_counters"  # adds to the hour's counters
    UPSERT_BOUNCE_COUNTERS = "upsert_bounce_counters"  # per class and list
    INSERT_EVENTS = "insert_events"
    INSERT_DMARC_REPORT = "insert_dmarc_report"  # ON CONFLICT (org, report_id, domain) ... id
    FIND_DMARC_REPORT = "find_dmarc_report"  # (org, report_id, domain) -> (id,)
    INSERT_DMARC_ROWS = "insert_dmarc_rows"
    INSERT_DMARC_STAGE = "insert_dmarc_stage"  # a large report's rows, batch by batch
    MOVE_DMARC_STAGE = "move_dmarc_stage"  # a load's staged rows, summed, into dmarc_rows
    DROP_DMARC_STAGE = "drop_dmarc_stage"  # (load,): its staged rows deleted


# What tells one DMARC row from another within a report (staged rows are summed by it).
DMARC_ROW_COLUMNS = DMARC_ROW_KEYS

# Bind columns of each statement (for the IN queries: the column compared).
COLUMNS: dict[Statement, tuple[str, ...]] = {
    Statement.INSERT_REPORTS: (
        "id",
        "raw_sha256",
        "received_at",
        "arrival_date",
        "feedback_type",
        "campaign",
        "provider",
        "source_ip",
        "reporter",
        "user_agent",
        "list_unsubscribe_https",
        "list_unsubscribe_one_click",
        "dkim_covers_list_unsubscribe",
        "feedback_id_valid",
        "raw",
        "auth_failure",
        "identity_alignment",
        "failure_domain",
    ),
    Statement.FIND_REPORTS: ("raw_sha256",),
    Statement.INSERT_RECIPIENTS: ("report_id", "pseudonym"),
    Statement.CLAIM_KEYS: ("source", "key_sha256", "seen_at"),
    Statement.CAMPAIGN_LABELS: ("id",),
    Statement.UPSERT_SUPPRESSIONS: ("pseudonym", "reason", "first_at"),
    Statement.OPTED_OUT: ("pseudonym",),
    Statement.UPSERT_COUNTERS: (
        "campaign",
        "provider",
        "category",
        "consent",
        "bucket",
        *COUNTER_COLUMNS,
    ),
    Statement.UPSERT_BOUNCE_COUNTERS: (
        "campaign",
        "provider",
        "bounce_class",
        "blocklist",
        "bucket",
        *BOUNCE_COUNTER_COLUMNS,
    ),
    Statement.INSERT_EVENTS: (
        "pseudonym",
        "type",
        "campaign",
        "provider",
        "occurred_at",
        "source",
        "bounce_kind",
        "feedback_type",
        "scope",
        "bounce_class",
        "blocklist",
        "reply_status",
        "reply_enhanced",
        "reply_text",
    ),
    Statement.INSERT_DMARC_REPORT: (
        "id",
        "org",
        "report_id",
        "domain",
        "org_name",
        "reporter",
        "begin_at",
        "end_at",
        "received_at",
        "records",
        "messages",
        "policy",
        "flavour",
        "raw",
    ),
    Statement.FIND_DMARC_REPORT: ("org", "report_id", "domain"),
    Statement.INSERT_DMARC_ROWS: (
        "report",
        *DMARC_ROW_COLUMNS,
        "messages",
    ),
    Statement.INSERT_DMARC_STAGE: (
        "load",
        "staged_at",
        *DMARC_ROW_COLUMNS,
        "messages",
    ),
    Statement.MOVE_DMARC_STAGE: ("report", "load"),
    Statement.DROP_DMARC_STAGE: ("load",),
}
_REPORT_ID = 0
_REPORT_SHA = 1


@dataclass(frozen=True, slots=True)
class Query:
    statement: Statement
    rows: list[Row]


T = TypeVar("T")
# Yields queries, is sent each one's result rows, returns the transaction's outcome.
Plan: TypeAlias = Generator[Query, list[Row], T]


@dataclass(frozen=True, slots=True)
class PendingReport:
    """A report ready to store: its row (``COLUMNS[INSERT_REPORTS]`` order, times aware),
    its recipients' pseudonyms and its prepared complaint events."""

    row: Row
    recipients: list[str]
    prepared: list[batch.PreparedEvent]

    @property
    def id(self) -> str:
        return str(self.row[_REPORT_ID])

    @property
    def raw_sha256(self) -> str:
        return str(self.row[_REPORT_SHA])


def add_events_plan(
    prepared: list[batch.PreparedEvent],
    *,
    now: dt.datetime,
    bind_time: BindTime,
    claim: tuple[str, str] | None = None,
) -> Plan[AddResult]:
    """Count each event once: claim the keys, then suppressions, counters and per-person rows.

    ``claim`` (source, key): claimed first, in the event keys; taken already, nothing is
    written (``replayed``)."""
    if claim is not None:
        got = yield Query(Statement.CLAIM_KEYS, [(*claim, bind_time(now))])
        if not got:
            return AddResult(0, 0, replayed=True)
    unique, duplicates = batch.split_in_batch_duplicates(prepared)
    accepted = yield from _claim_keys(unique, now, bind_time)
    duplicates += len(unique) - len(accepted)
    if not accepted:
        return AddResult(0, duplicates)
    campaigns = sorted({item.event.campaign for item in accepted})
    found = yield Query(Statement.CAMPAIGN_LABELS, [(c,) for c in campaigns])
    labels: batch.CampaignLabels = {
        campaign: (
            Category(category) if category else None,
            # A registration that says 'unknown' says nothing: the events' own counts.
            Consent(consent) if consent and consent != Consent.UNKNOWN else None,
        )
        for campaign, category, consent in found
    }
    suppressions = batch.suppression_rows(accepted)
    if suppressions:
        yield Query(
            Statement.UPSERT_SUPPRESSIONS,
            [(p, r.value, bind_time(at)) for (p, r), at in sorted(suppressions.items())],
        )
    violating: list[batch.PreparedEvent] = []
    candidates = batch.deadline_candidates(accepted, labels)
    if candidates:
        pseudonyms = sorted({i.pseudonym for i in candidates if i.pseudonym is not None})
        opted_out = yield Query(Statement.OPTED_OUT, [(p,) for p in pseudonyms])
        violating = batch.violating_sends(candidates, dict(opted_out))
    counted = batch.counter_rows(accepted, violating, bind_time)
    if counted:
        yield Query(Statement.UPSERT_COUNTERS, counted)
    bounces = batch.bounce_counter_rows(accepted, bind_time)
    if bounces:
        yield Query(Statement.UPSERT_BOUNCE_COUNTERS, bounces)
    personal = [_event_row(i, bind_time) for i in accepted if i.pseudonym is not None]
    if personal:
        yield Query(Statement.INSERT_EVENTS, personal)
    return AddResult(len(accepted), duplicates)


def _claim_keys(
    unique: list[batch.PreparedEvent], now: dt.datetime, bind_time: BindTime
) -> Plan[list[batch.PreparedEvent]]:
    """The events whose (source, key) this transaction inserted first, plus unkeyed ones."""
    keyed = sorted({(i.event.source.value, i.key_sha256) for i in unique if i.key_sha256})
    if not keyed:
        return unique
    seen_at = bind_time(now)
    claimed = yield Query(Statement.CLAIM_KEYS, [(s, k, seen_at) for s, k in keyed])
    if len(claimed) == len(keyed):  # the common case: nothing was seen before
        return unique
    taken = {(source, key) for source, key in claimed}
    return [
        i for i in unique if i.key_sha256 is None or (i.event.source.value, i.key_sha256) in taken
    ]


def store_reports_plan(
    group: Sequence[PendingReport], *, now: dt.datetime, bind_time: BindTime
) -> Plan[list[ReportResult]]:
    """Store the reports as if one after the other, in order; a known raw SHA-256 is a duplicate."""
    first: dict[str, PendingReport] = {}
    for pending in group:
        first.setdefault(pending.raw_sha256, pending)
    # One key order for every writer (the unique index on raw_sha256).
    owners = sorted(first.values(), key=lambda p: p.raw_sha256)
    inserted = yield Query(
        Statement.INSERT_REPORTS, [_bind_report(p.row, bind_time) for p in owners]
    )
    new_ids = {row[0] for row in inserted}
    new = [p for p in first.values() if p.id in new_ids]
    existing: dict[str, str] = {}
    if len(new) < len(first):
        known = sorted(sha for sha, p in first.items() if p.id not in new_ids)
        found = yield Query(Statement.FIND_REPORTS, [(sha,) for sha in known])
        existing = dict(found)
    recipients = [(p.id, pseudonym) for p in new for pseudonym in p.recipients]
    if recipients:
        yield Query(Statement.INSERT_RECIPIENTS, recipients)
    if any(i.event.type is EventType.SENT for p in new for i in p.prepared):
        # Sends are checked against opt-outs: keep each report's own view.
        for p in new:
            yield from add_events_plan(p.prepared, now=now, bind_time=bind_time)
    else:
        prepared = [i for p in new for i in p.prepared]
        yield from add_events_plan(prepared, now=now, bind_time=bind_time)
    results = []
    for pending in group:
        owner = first[pending.raw_sha256]
        if owner.id not in new_ids:
            results.append(ReportResult(existing[pending.raw_sha256], duplicate=True))
        else:
            results.append(ReportResult(owner.id, duplicate=owner is not pending))
    return results


def _bind_report(row: Row, bind_time: BindTime) -> Row:
    received, arrival = row[2], row[3]
    return (
        *row[:2],
        bind_time(received),
        None if arrival is None else bind_time(arrival),
        *row[4:],
    )


def _event_row(item: batch.PreparedEvent, bind_time: BindTime) -> Row:
    event = item.event
    detail = event.bounce
    deferral = detail is not None and detail.deferral
    return (
        item.pseudonym,
        "deferral" if deferral else event.type.value,
        event.campaign,
        event.provider.value,
        bind_time(event.occurred_at),
        event.source.value,
        event.bounce_kind.value if event.bounce_kind else None,
        event.feedback_type,
        event.scope,
        *(
            (None,) * 5
            if detail is None
            else (detail.cls, detail.blocklist, detail.status, detail.enhanced, detail.reply)
        ),
    )
