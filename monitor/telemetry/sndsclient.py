"""The Microsoft SNDS importer: ``data.aspx`` (per-IP activity) and ``ipStatus.aspx`` (blocked
ranges), with the automated-access key in the query string.

The key makes the URL a secret: no URL, query or exception text is logged or returned,
only a machine reason (``http_403``, ``connection``, ``not_csv``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar
from urllib.parse import urlencode

import aiohttp

from monitor.model.telemetry import SndsBlock, SndsImport, SndsRow
from monitor.offloop import off_loop
from monitor.telemetry.http import Retry, fetch
from monitor.telemetry.snds import (
    ParsedCsv,
    SndsFormatError,
    csv_text,
    parse_data,
    parse_ip_status,
)

__all__ = ["SndsImporter"]

_T = TypeVar("_T")


class SndsImporter:
    """Imports with ``key`` from ``base_url`` (``.../snds``)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        key: str,
        base_url: str,
        *,
        retry: Retry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._clock = clock
        self._session = session
        self._key = key
        self._base = base_url.rstrip("/")
        self._retry = retry
        self._sleep = sleep

    async def import_once(self, days: Sequence[dt.date] = ()) -> SndsImport:
        """The latest data (or each of ``days``, for a backfill) and the blocked ranges."""
        reasons: dict[str, str] = {}
        rows: list[SndsRow] | None = []
        wanted: list[dt.date | None] = list(days) or [None]
        for day in wanted:
            params = {"key": self._key}
            if day is not None:
                params["date"] = day.strftime("%m%d%y")  # MMDDYY
            # A period ending more than a day ahead (SNDS's time zone is not documented).
            latest = self._clock() + dt.timedelta(days=1)
            got, reason = await self._get("data.aspx", params, partial(parse_data, latest=latest))
            if got is None or rows is None:
                reasons["data"] = reason or reasons.get("data", "")
                rows = None
                continue
            rows += got.items
            if got.refused:
                reasons["data"] = f"refused_lines:{got.refused}"
        blocks, reason = await self._get("ipStatus.aspx", {"key": self._key}, parse_ip_status)
        if reason:
            reasons["ip_status"] = reason
        readable: tuple[SndsBlock, ...] = ()
        if blocks is not None and blocks.refused:
            # A line that could not be read may be the range that blocks one of our IPs:
            # the list clears nobody. The last list that read whole stands meanwhile, with
            # the ranges this one's readable lines block added (a block read is certain).
            readable = tuple(b for b in blocks.items if b.blocked)
            blocks = None
        return SndsImport(
            tuple(rows) if rows is not None else None,
            blocks.items if blocks is not None else None,
            reasons,
            readable,
        )

    async def _get(
        self, page: str, params: dict[str, str], parse: Callable[[str], ParsedCsv[_T]]
    ) -> tuple[ParsedCsv[_T] | None, str]:
        answer = await fetch(
            self._session,
            "GET",
            f"{self._base}/{page}?{urlencode(params)}",
            retry=self._retry,
            sleep=self._sleep,
        )
        if answer.status != 200:
            return None, answer.reason
        try:
            # A large account's answer takes seconds to read (50,000 lines: 1.4 s): off
            # the event loop, which keeps answering meanwhile.
            parsed = await off_loop(lambda body: parse(csv_text(body)), answer.body)
        except SndsFormatError as exc:
            return None, exc.reason
        reason = f"refused_lines:{parsed.refused}" if parsed.refused else ""
        if parsed.refused and not parsed.items:
            return None, "not_csv"
        return parsed, reason
