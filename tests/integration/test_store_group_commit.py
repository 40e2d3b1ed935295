"""Group commit of feedback reports (real SQLite and PostgreSQL): reports stored
concurrently share a transaction, yet each caller gets its own answer and one
failing report fails alone."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import ColumnElement, func, select

from monitor.model.events import Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store import ReportRecord, SqlStore, plans
from monitor.store.batch import PreparedEvent
from monitor.store.models import AddResult
from monitor.store.schema import feedback_reports, report_recipients

P = Pseudonymizer(b"k" * 32)
NOW = dt.datetime(2025, 3, 10, 10, 20, tzinfo=dt.UTC)


def _report(n: int, campaign: str = "spring") -> tuple[ReportRecord, list[Event]]:
    sha = f"{n:064x}"
    recipient = f"user{n}@example.com"
    record = ReportRecord(
        raw_sha256=sha, received_at=NOW, feedback_type="abuse", campaign=campaign,
        provider=Provider.YAHOO, recipients=(recipient,),
    )  # fmt: skip
    event = Event(
        EventType.COMPLAINT, campaign=campaign, occurred_at=NOW, source=Source.ARF,
        idempotency_key=f"{sha}:0", recipient=recipient, provider=Provider.YAHOO,
    )  # fmt: skip
    return record, [event]


async def _complaints(store: SqlStore) -> int:
    return sum(row.totals.complaints for row in await store.counts())


async def _count(store: SqlStore, column: ColumnElement[Any]) -> int:
    async with store._engine.connect() as conn:
        return int((await conn.execute(select(func.count(column)))).scalar_one())


async def test_concurrent_reports_each_get_their_answer(store: SqlStore) -> None:
    reports = [_report(n) for n in range(12)]
    reports.append(_report(3))  # the same raw report again, in the same burst
    results = await asyncio.gather(*(store.add_report(r, e, P) for r, e in reports))
    assert [r.duplicate for r in results] == [False] * 12 + [True]
    assert results[12].id == results[3].id
    assert len({r.id for r in results}) == 12
    assert await _complaints(store) == 12
    assert await _count(store, feedback_reports.c.id) == 12
    assert await _count(store, report_recipients.c.report_id) == 12
    for n in range(12):
        assert await store.is_suppressed(P.pseudonym(f"user{n}@example.com"))
    # Again, concurrently: all duplicates, the same ids, nothing counted twice.
    again = await asyncio.gather(*(store.add_report(r, e, P) for r, e in reports[:12]))
    assert [(r.id, r.duplicate) for r in again] == [(r.id, True) for r in results[:12]]
    assert await _complaints(store) == 12


async def test_a_failing_report_fails_alone(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = plans.add_events_plan

    def failing(prepared: list[PreparedEvent], **kwargs: Any) -> plans.Plan[AddResult]:
        # Fails inside the transaction, after the report's own row was inserted.
        if any(i.event.campaign == "boom" for i in prepared):
            raise RuntimeError("boom")
        return (yield from original(prepared, **kwargs))

    monkeypatch.setattr(plans, "add_events_plan", failing)
    reports: Sequence[tuple[ReportRecord, list[Event]]] = [
        _report(n, "boom" if n == 2 else "spring") for n in range(6)
    ]
    results = await asyncio.gather(
        *(store.add_report(r, e, P) for r, e in reports), return_exceptions=True
    )
    assert isinstance(results[2], RuntimeError)
    assert all(
        not isinstance(r, BaseException) and not r.duplicate
        for i, r in enumerate(results)
        if i != 2
    )
    assert await _complaints(store) == 5
    assert await _count(store, feedback_reports.c.id) == 5  # the failed one rolled back
    monkeypatch.setattr(plans, "add_events_plan", original)
    retried = await store.add_report(*reports[2], P)
    assert not retried.duplicate
    assert await _complaints(store) == 6


async def test_sends_in_grouped_reports_see_only_earlier_opt_outs(store: SqlStore) -> None:
    late = NOW + dt.timedelta(hours=49)
    unsubscribe = Event(
        EventType.UNSUBSCRIBE, campaign="spring", occurred_at=NOW, source=Source.API,
        idempotency_key="u", recipient="a@example.com", provider=Provider.YAHOO,
    )  # fmt: skip
    send = Event(
        EventType.SENT, campaign="spring", occurred_at=late, source=Source.API,
        idempotency_key="s", recipient="a@example.com", provider=Provider.YAHOO,
    )  # fmt: skip
    first = ReportRecord("01" * 32, NOW, "abuse", "spring", provider=Provider.YAHOO)
    second = ReportRecord("02" * 32, NOW, "abuse", "spring", provider=Provider.YAHOO)
    # The send's report comes first: one by one, its opt-out was not stored yet.
    await asyncio.gather(
        store.add_report(first, [send], P), store.add_report(second, [unsubscribe], P)
    )
    totals = [row.totals for row in await store.counts()]
    assert sum(t.unsubscribes for t in totals) == 1
    assert sum(t.sent for t in totals) == 1
    assert sum(t.unsubscribe_violations for t in totals) == 0
    # And the other way round: the opt-out first, so the later send breaks the deadline.
    third = ReportRecord("03" * 32, NOW, "abuse", "spring", provider=Provider.YAHOO)
    resend = Event(
        EventType.SENT, campaign="spring", occurred_at=late, source=Source.API,
        idempotency_key="s2", recipient="a@example.com", provider=Provider.YAHOO,
    )  # fmt: skip
    await store.add_report(third, [resend], P)
    totals = [row.totals for row in await store.counts()]
    assert sum(t.unsubscribe_violations for t in totals) == 1
