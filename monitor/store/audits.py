"""Counts of the original-message audit per campaign (issue 4 item 5).

For each complained-about message (abuse, fraud and virus reports still kept
within the retention period): did it carry an HTTPS List-Unsubscribe, the exact
RFC 8058 one-click header, DKIM h= coverage of both, a valid Feedback-ID.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.store.schema import feedback_reports

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


class AuditQueries:
    """Mixed into the store: read-only aggregate over ``feedback_reports``."""

    _engine: AsyncEngine

    async def audit_counts(self, campaign: str | None = None) -> tuple[AuditCounts, ...]:
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
        query = (
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
            .order_by(r.campaign)
        )
        if campaign is not None:
            query = query.where(r.campaign == campaign)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return tuple(
            AuditCounts(
                campaign=row.campaign,
                complaint_reports=int(row.complaint_reports),
                audited=int(row.audited),
                list_unsubscribe_https=int(row.list_unsubscribe_https or 0),
                one_click_post=int(row.one_click_post or 0),
                dkim_covers_list_unsubscribe=int(row.dkim_covers_list_unsubscribe or 0),
                one_click_compliant=int(row.one_click_compliant or 0),
                feedback_id_invalid=int(row.feedback_id_invalid or 0),
            )
            for row in rows
        )
