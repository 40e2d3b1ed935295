"""Counts of the original-message audit per campaign (issue 4 item 5).

For each complained-about message (abuse, fraud and virus reports kept within the
retention period; the purge adds the counts of those it deletes to ``audit_tally``, which
the metric counts too): did it carry an HTTPS List-Unsubscribe, the exact
RFC 8058 one-click header, DKIM h= coverage of both, a valid Feedback-ID.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.store.schema import audit_tally, feedback_reports

__all__ = ["AUDIT_FIELDS", "COMPLAINT_TYPES", "AuditCounts", "AuditQueries"]

COMPLAINT_TYPES = ("abuse", "fraud", "virus")


@dataclass(frozen=True, slots=True)
class AuditCounts:
    """Per campaign; ``audited`` reports had an original (or its headers) to look at."""

    campaign: str
    complaint_reports: int
    audited: int
    list_unsubscribe_https: int
    one_click_post: int
    dkim_covers_list_unsubscribe: int
    one_click_compliant: int
    feedback_id_invalid: int


# The counts of an AuditCounts, in declaration order (everything but ``campaign``).
AUDIT_FIELDS = tuple(f.name for f in fields(AuditCounts) if f.name != "campaign")


def _true(column: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((column == true(), 1), else_=0))


def _audit_query() -> Select[Any]:
    """Per campaign, the audit counts of the complaint reports (``AUDIT_FIELDS`` order)."""
    r = feedback_reports.c
    compliant = case(
        (
            (r.list_unsubscribe_https == true())
            & (r.list_unsubscribe_one_click == true())
            & (r.dkim_covers_list_unsubscribe == true()),
            1,
        ),
        else_=0,
    )
    return (
        select(
            r.campaign,
            func.count().label("complaint_reports"),
            func.count(r.list_unsubscribe_https).label("audited"),
            _true(r.list_unsubscribe_https).label("list_unsubscribe_https"),
            _true(r.list_unsubscribe_one_click).label("one_click_post"),
            _true(r.dkim_covers_list_unsubscribe).label("dkim_covers_list_unsubscribe"),
            func.sum(compliant).label("one_click_compliant"),
            func.sum(case((r.feedback_id_valid == False, 1), else_=0)).label(  # noqa: E712  # SQL comparison
                "feedback_id_invalid"
            ),
        )
        .where(r.feedback_type.in_(COMPLAINT_TYPES))
        .group_by(r.campaign)
    )


def _counts(row: Any) -> AuditCounts:
    return AuditCounts(row.campaign, *(int(getattr(row, f) or 0) for f in AUDIT_FIELDS))


async def tally_audits(conn: AsyncConnection, before: dt.datetime) -> None:
    """Add the audit counts of the reports received before ``before`` (about to be purged,
    in ``conn``'s transaction) to ``audit_tally``."""
    found = await conn.execute(_audit_query().where(feedback_reports.c.received_at < before))
    for counts in map(_counts, found.all()):
        values = {f: getattr(counts, f) for f in AUDIT_FIELDS}
        added = await conn.execute(
            update(audit_tally)
            .where(audit_tally.c.campaign == counts.campaign)
            .values({f: audit_tally.c[f] + n for f, n in values.items()})
        )
        if not added.rowcount:  # one purger at a time (the first replica)
            await conn.execute(insert(audit_tally).values(campaign=counts.campaign, **values))


def _add(rows: Sequence[AuditCounts]) -> tuple[AuditCounts, ...]:
    summed: dict[str, list[int]] = {}
    for row in rows:
        into = summed.setdefault(row.campaign, [0] * len(AUDIT_FIELDS))
        for i, f in enumerate(AUDIT_FIELDS):
            into[i] += getattr(row, f)
    return tuple(AuditCounts(c, *n) for c, n in sorted(summed.items()))


class AuditQueries:
    """Mixed into the store: read-only aggregate over ``feedback_reports``."""

    _engine: AsyncEngine

    async def audit_counts(
        self, campaign: str | None = None, *, purged: bool = False
    ) -> tuple[AuditCounts, ...]:
        """Per campaign, the reports kept within the retention period; with ``purged``
        also those the retention purge deleted (what a counter must show)."""
        live = _audit_query()
        tallied = select(audit_tally)
        if campaign is not None:
            live = live.where(feedback_reports.c.campaign == campaign)
            tallied = tallied.where(audit_tally.c.campaign == campaign)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(live.order_by(feedback_reports.c.campaign))).all()
            if purged:
                rows = [*rows, *(await conn.execute(tallied)).all()]
        return _add([_counts(row) for row in rows])
