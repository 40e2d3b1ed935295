"""DMARC failure reports counted once each, in a tally the retention purge leaves alone.

Mixed into ``SqlStore``. The reports are per-person data: the retention purge and an
erasure delete them, so counting the stored rows would make
``delivermon_dmarc_failure_reports_total`` fall (and Prometheus read the fall as a counter
reset, then count the remainder again). The ``dmarc`` job (one replica) instead adds the
reports received since its last run to a tally, in one transaction with its watermark.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.store.engine import Writer
from monitor.store.schema import (
    MAX_DMARC_TEXT,
    MAX_LABEL_LENGTH,
    cacheable_insert,
    dmarc_failure_tally,
    feedback_reports,
    tally_watermarks,
)

__all__ = ["DmarcTally"]

_WATERMARK = "dmarc_failures"
_ADD = cacheable_insert(
    dmarc_failure_tally,
    "ON CONFLICT (domain, auth_failure) DO UPDATE "
    "SET reports = dmarc_failure_tally.reports + excluded.reports",
)
_SET_WATERMARK = cacheable_insert(
    tally_watermarks, "ON CONFLICT (name) DO UPDATE SET at = excluded.at"
)


class DmarcTally:
    _writer: Writer

    async def tally_dmarc_failures(self, until: dt.datetime) -> dict[tuple[str, str], int]:
        """Add the failure reports received after the last call and up to ``until`` to the
        tally; return the whole tally, by (domain, Auth-Failure token).

        ``until`` should lie a little in the past (the caller's settling time): a report
        whose transaction commits after a call has counted up to its ``received_at`` would
        otherwise be missed. A report erased or purged before it was counted is not counted.
        """
        r = feedback_reports.c
        async with self._writer.begin() as conn:
            since = await conn.scalar(
                select(tally_watermarks.c.at).where(tally_watermarks.c.name == _WATERMARK)
            )
            if since is None or until > since:
                query = (
                    select(r.failure_domain, r.auth_failure, func.count())
                    .where(r.feedback_type == "auth-failure", r.received_at <= until)
                    .group_by(r.failure_domain, r.auth_failure)
                )
                if since is not None:
                    query = query.where(r.received_at > since)
                added: dict[tuple[str, str], int] = {}
                for row in await conn.execute(query):
                    key = (str(row[0] or "")[:MAX_DMARC_TEXT], str(row[1] or "")[:MAX_LABEL_LENGTH])
                    added[key] = added.get(key, 0) + int(row[2])
                if added:
                    await conn.execute(
                        _ADD,
                        [
                            {"domain": d, "auth_failure": a, "reports": n}
                            for (d, a), n in added.items()
                        ],
                    )
                await _set_watermark(conn, until)
            rows = await conn.execute(select(dmarc_failure_tally))
            return {(row.domain, row.auth_failure): int(row.reports) for row in rows}


async def _set_watermark(conn: AsyncConnection, at: dt.datetime) -> None:
    await conn.execute(_SET_WATERMARK, [{"name": _WATERMARK, "at": at}])
