"""Read side of the classified bounces: counts per class, and the replies that cite a list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.store.rates import floor_hour
from monitor.store.schema import bounce_counters, events

__all__ = ["BounceCountRow", "BounceQueries", "CitedReply"]


@dataclass(frozen=True, slots=True)
class BounceCountRow:
    campaign: str
    provider: str
    cls: str
    blocklist: str  # "" when the class is not blocklisted
    bounces: int
    deferrals: int


@dataclass(frozen=True, slots=True)
class CitedReply:
    """A stored reply (addresses masked) of a blocklisted bounce, for the sweep join."""

    provider: str
    blocklist: str
    reply: str


class BounceQueries:
    """Mixed into the store: read-only aggregates over ``bounce_counters`` and ``events``."""

    _engine: AsyncEngine

    async def bounce_counts(
        self, *, since: dt.datetime | None = None
    ) -> tuple[BounceCountRow, ...]:
        """Sums per campaign x provider x class x list over the buckets from ``since``."""
        c = bounce_counters.c
        keys = (c.campaign, c.provider, c.bounce_class, c.blocklist)
        query = select(*keys, func.sum(c.bounces), func.sum(c.deferrals)).group_by(*keys)
        if since is not None:
            query = query.where(c.bucket >= floor_hour(since))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(*keys))).all()
        return tuple(
            BounceCountRow(r[0], r[1], r[2], r[3], int(r[4] or 0), int(r[5] or 0)) for r in rows
        )

    async def cited_replies(
        self, *, since: dt.datetime, limit: int = 200
    ) -> tuple[CitedReply, ...]:
        """The latest replies that cite a block list (newest first, at most ``limit``)."""
        e = events.c
        query = (
            select(e.provider, e.blocklist, e.reply_text)
            .where(
                e.bounce_class == "blocklisted",
                e.occurred_at >= since,
                e.reply_text.is_not(None),
            )
            .order_by(e.occurred_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return tuple(CitedReply(r[0], r[1] or "unknown", r[2]) for r in rows)
