"""Receiver telemetry in the store: Gmail Postmaster statistics per domain, day and metric;
SNDS activity per IP and period; the SNDS blocked ranges; each source's last import state.

Mixed into ``SqlStore``. Re-importing a day overwrites that day's rows (upserts keyed by
domain, day and metric; by IP and activity start): an import is idempotent. The imports
run on the first replica only, so a read-then-write in one transaction does not race.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.model.telemetry import (
    FilterResult,
    GmailDomainImport,
    GmailStat,
    GmailState,
    SndsBlock,
    SndsImport,
    SndsRow,
    TelemetrySource,
)
from monitor.store.engine import Writer
from monitor.store.schema import MAX_LABEL_LENGTH, UtcDateTime, cacheable_insert, metadata
from monitor.store.state import _set_all

__all__ = [
    "TelemetryRecords",
    "TelemetryStatus",
    "gmail_stats",
    "snds_activity",
    "snds_blocks",
    "telemetry_status",
]

_NAME = 255
_IP = 45
_TEXT = 255

gmail_stats = Table(
    "gmail_stats",
    metadata,
    Column("domain", String(_NAME), primary_key=True),
    Column("day", Date(), primary_key=True),
    Column("metric", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("value", Float(), nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
)

snds_activity = Table(
    "snds_activity",
    metadata,
    Column("ip", String(_IP), primary_key=True),
    Column("activity_start", UtcDateTime(), primary_key=True),
    Column("activity_end", UtcDateTime(), nullable=False),
    Column("rcpt_commands", BigInteger(), nullable=False),
    Column("data_commands", BigInteger(), nullable=False),
    Column("recipients", BigInteger(), nullable=False),
    Column("filter_result", String(MAX_LABEL_LENGTH), nullable=True),
    Column("complaint_rate", String(_TEXT), nullable=False),
    Column("trap_start", UtcDateTime(), nullable=True),
    Column("trap_end", UtcDateTime(), nullable=True),
    Column("trap_hits", BigInteger(), nullable=False),
    Column("sample_helo", String(_TEXT), nullable=False),
    Column("sample_mail_from", String(_TEXT), nullable=False),
    Column("comments", String(_TEXT), nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
)

# The latest ipStatus.aspx list as a whole (replaced by each successful import).
snds_blocks = Table(
    "snds_blocks",
    metadata,
    Column("first_ip", String(_IP), primary_key=True),
    Column("last_ip", String(_IP), primary_key=True),
    Column("blocked", Boolean(), nullable=False),
    Column("reason", String(_TEXT), nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
)

# One row per source and subject (a Gmail domain; SNDS "data" and "ip_status"): the last
# import's state and reason, the Gmail compliance rows (JSON), when it last got through.
telemetry_status = Table(
    "telemetry_status",
    metadata,
    Column("source", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("subject", String(_NAME), primary_key=True),
    Column("state", String(MAX_LABEL_LENGTH), nullable=False),
    Column("reason", String(_TEXT), nullable=False),
    Column("detail", Text(), nullable=False),
    Column("checked_at", UtcDateTime(), nullable=False),
    Column("last_ok_at", UtcDateTime(), nullable=True),
)


_UPSERT_STAT = cacheable_insert(gmail_stats, _set_all(gmail_stats, ("domain", "day", "metric")))
_UPSERT_ACTIVITY = cacheable_insert(
    snds_activity, _set_all(snds_activity, ("ip", "activity_start"))
)
_UPSERT_STATUS = cacheable_insert(
    telemetry_status, _set_all(telemetry_status, ("source", "subject"))
)
_OK_STATES = frozenset({GmailState.OK.value, GmailState.NO_DATA.value, "ok"})


@dataclass(frozen=True, slots=True)
class TelemetryStatus:
    """A source's subject as last imported; ``detail`` is a JSON object."""

    source: TelemetrySource
    subject: str
    state: str
    reason: str
    detail: str
    checked_at: dt.datetime
    last_ok_at: dt.datetime | None

    def detail_dict(self) -> dict[str, object]:
        value = json.loads(self.detail)
        return value if isinstance(value, dict) else {}


class TelemetryRecords:
    """Telemetry rows over an async engine."""

    _engine: AsyncEngine
    _writer: Writer

    async def save_gmail(self, imports: Sequence[GmailDomainImport], now: dt.datetime) -> None:
        """Each domain's stats (upserted: a re-import of a day overwrites it) and state; a
        domain whose compliance was not fetched keeps the compliance stored before."""
        if not imports:
            return
        stats = [
            {
                "domain": s.domain,
                "day": s.day,
                "metric": s.metric,
                "value": s.value,
                "imported_at": now,
            }
            for i in imports
            for s in i.stats
        ]
        async with self._writer.begin() as conn:
            old = await _statuses(conn, TelemetrySource.GMAIL, [i.domain for i in imports])
            rows = []
            for i in imports:
                prev = old.get(i.domain)
                if i.compliance is not None:
                    detail = json.dumps(
                        {"compliance": {c.requirement: c.status for c in i.compliance}}
                    )
                else:
                    detail = prev.detail if prev is not None else "{}"
                rows.append(
                    _status_row(
                        TelemetrySource.GMAIL, i.domain, i.state, i.reason, detail, now, prev
                    )
                )
            if stats:
                await conn.execute(_UPSERT_STAT, stats)
            await conn.execute(_UPSERT_STATUS, rows)

    async def gmail_stats(
        self, *, since: dt.date, domains: Iterable[str] | None = None
    ) -> list[GmailStat]:
        """Stored statistics from ``since`` on, oldest first."""
        c = gmail_stats.c
        query = select(gmail_stats).where(c.day >= since).order_by(c.domain, c.day, c.metric)
        if domains is not None:
            query = query.where(c.domain.in_(sorted(set(domains))))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [GmailStat(r["domain"], r["day"], r["metric"], r["value"]) for r in rows]

    async def save_snds(self, result: SndsImport, now: dt.datetime) -> None:
        """The activity rows (upserted by IP and period), the blocked list (replaced whole
        when it was fetched; with a line that could not be read, its readable blocked
        ranges added), and the state of each endpoint."""
        rows = [_activity_row(r, now) for r in result.rows or ()]
        async with self._writer.begin() as conn:
            old = await _statuses(conn, TelemetrySource.SNDS, ["data", "ip_status"])
            if rows:
                await conn.execute(_UPSERT_ACTIVITY, rows)
            if result.blocks is not None or result.partial_blocks:
                unique = {(b.first_ip, b.last_ip): b for b in result.blocks or ()}
                if result.blocks is not None:
                    await conn.execute(delete(snds_blocks))
                else:  # ranges added to the last whole list, replacing their own rows
                    unique = {(b.first_ip, b.last_ip): b for b in result.partial_blocks}
                    c = snds_blocks.c
                    for first_ip, last_ip in unique:
                        await conn.execute(
                            delete(snds_blocks).where(c.first_ip == first_ip, c.last_ip == last_ip)
                        )
                if unique:
                    await conn.execute(
                        insert(snds_blocks),
                        [
                            {
                                "first_ip": b.first_ip,
                                "last_ip": b.last_ip,
                                "blocked": b.blocked,
                                "reason": b.reason,
                                "imported_at": now,
                            }
                            for b in unique.values()
                        ],
                    )
            status = []
            for subject, fetched in (("data", result.rows), ("ip_status", result.blocks)):
                state = "ok" if fetched is not None else "unavailable"
                reason = result.reasons.get(subject, "")
                status.append(
                    _status_row(
                        TelemetrySource.SNDS, subject, state, reason, "{}", now, old.get(subject)
                    )
                )
            await conn.execute(_UPSERT_STATUS, status)

    async def snds_rows(self, *, since: dt.datetime) -> list[SndsRow]:
        """Stored activity whose period ended at or after ``since``, oldest first."""
        c = snds_activity.c
        query = select(snds_activity).where(c.activity_end >= since).order_by(c.activity_end, c.ip)
        async with self._engine.connect() as conn:
            found = (await conn.execute(query)).mappings().all()
        return [
            SndsRow(
                ip=r["ip"],
                activity_start=r["activity_start"],
                activity_end=r["activity_end"],
                rcpt_commands=r["rcpt_commands"],
                data_commands=r["data_commands"],
                recipients=r["recipients"],
                filter_result=FilterResult(r["filter_result"]) if r["filter_result"] else None,
                complaint_rate=r["complaint_rate"],
                trap_start=r["trap_start"],
                trap_end=r["trap_end"],
                trap_hits=r["trap_hits"],
                sample_helo=r["sample_helo"],
                sample_mail_from=r["sample_mail_from"],
                comments=r["comments"],
            )
            for r in found
        ]

    async def snds_blocks(self) -> list[SndsBlock]:
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(snds_blocks))).mappings().all()
        return [SndsBlock(r["first_ip"], r["last_ip"], r["blocked"], r["reason"]) for r in found]

    async def telemetry_statuses(self) -> list[TelemetryStatus]:
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(telemetry_status))).mappings().all()
        return sorted(
            (_status(r) for r in found if r["source"] in TelemetrySource.__members__.values()),
            key=lambda s: (s.source.value, s.subject),
        )


async def _statuses(
    conn: AsyncConnection, source: TelemetrySource, subjects: Sequence[str]
) -> dict[str, TelemetryStatus]:
    c = telemetry_status.c
    found = await conn.execute(
        select(telemetry_status).where(c.source == source.value, c.subject.in_(list(subjects)))
    )
    return {r["subject"]: _status(r) for r in found.mappings()}


def _status(r: object) -> TelemetryStatus:
    row = dict(r)  # type: ignore[call-overload]
    return TelemetryStatus(
        TelemetrySource(row["source"]),
        row["subject"],
        row["state"],
        row["reason"],
        row["detail"],
        row["checked_at"],
        row["last_ok_at"],
    )


def _status_row(
    source: TelemetrySource,
    subject: str,
    state: str,
    reason: str,
    detail: str,
    now: dt.datetime,
    prev: TelemetryStatus | None,
) -> dict[str, object]:
    ok = state in _OK_STATES
    return {
        "source": source.value,
        "subject": subject,
        "state": str(state),
        "reason": reason[:_TEXT],
        "detail": detail,
        "checked_at": now,
        "last_ok_at": now if ok else (prev.last_ok_at if prev is not None else None),
    }


def _activity_row(r: SndsRow, now: dt.datetime) -> dict[str, object]:
    return {
        "ip": r.ip,
        "activity_start": r.activity_start,
        "activity_end": r.activity_end,
        "rcpt_commands": r.rcpt_commands,
        "data_commands": r.data_commands,
        "recipients": r.recipients,
        "filter_result": r.filter_result.value if r.filter_result else None,
        "complaint_rate": r.complaint_rate,
        "trap_start": r.trap_start,
        "trap_end": r.trap_end,
        "trap_hits": r.trap_hits,
        "sample_helo": r.sample_helo,
        "sample_mail_from": r.sample_mail_from,
        "comments": r.comments,
        "imported_at": now,
    }
