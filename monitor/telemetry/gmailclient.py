"""The Gmail Postmaster Tools API v2 importer: a window of days for each configured domain.

One ``domainStats:batchQuery`` per 100 domains, then ``domains/{d}/domainStats:query``
for the further pages of a domain (pages count entries, metric x day, oldest first:
stopping early would lose the newest days) and ``domains/{d}/complianceStatus``.
Every failure becomes the domain's state, never a rate: 401/404 ``unverified``
(after one forced token refresh), 403 ``permission_denied``, 429/5xx after retries, an
unreadable answer or no token ``unavailable``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import quote

import aiohttp

from monitor.model.telemetry import GmailCompliance, GmailDomainImport, GmailStat, GmailState
from monitor.telemetry.auth import TokenError, TokenSource
from monitor.telemetry.gmail import (
    BATCH_LIMIT,
    GmailFormatError,
    QueryPage,
    batch_body,
    load_body,
    parse_batch,
    parse_compliance,
    parse_error_status,
    parse_query,
    query_body,
)
from monitor.telemetry.http import Answer, Retry, fetch

__all__ = ["GmailImporter"]

log = logging.getLogger(__name__)

# google.rpc codes of a batch entry's error -> the domain's state (others: ask again alone).
_RPC_STATES = {
    7: (GmailState.PERMISSION_DENIED, "permission_denied"),
    16: (GmailState.UNVERIFIED, "unauthenticated"),
    5: (GmailState.UNVERIFIED, "not_found"),
}
_MAX_PAGES = 50


class _Failed(Exception):  # noqa: N818 -- internal control flow, never escapes this module
    def __init__(self, state: GmailState, reason: str) -> None:
        self.state, self.reason = state, reason


class GmailImporter:
    """Imports from ``api_base`` with tokens from ``tokens``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: TokenSource,
        api_base: str,
        *,
        retry: Retry | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._session = session
        self._tokens = tokens
        self._base = api_base.rstrip("/")
        self._retry = retry
        self._sleep = sleep
        self._force_refresh = False

    async def import_domains(
        self, domains: Sequence[str], start: dt.date, end: dt.date
    ) -> list[GmailDomainImport]:
        """Each domain's statistics for ``start``..``end`` (inclusive) and its compliance."""
        found: list[GmailDomainImport] = []
        for i in range(0, len(domains), BATCH_LIMIT):
            found += await self._batch(list(domains[i : i + BATCH_LIMIT]), start, end)
        return found

    async def _batch(
        self, domains: list[str], start: dt.date, end: dt.date
    ) -> list[GmailDomainImport]:
        try:
            doc = await self._post("/v2/domainStats:batchQuery", batch_body(domains, start, end))
            pages = parse_batch(domains, doc, (start, end))
        except _Failed as failed:
            return [GmailDomainImport(d, failed.state, reason=failed.reason) for d in domains]
        except GmailFormatError:
            return [
                GmailDomainImport(d, GmailState.UNAVAILABLE, reason="malformed") for d in domains
            ]
        results = []
        for domain, first in zip(domains, pages, strict=True):
            results.append(await self._domain(domain, first, start, end))
        return results

    async def _domain(
        self, domain: str, first: QueryPage | int, start: dt.date, end: dt.date
    ) -> GmailDomainImport:
        try:
            if isinstance(first, int):
                if first in _RPC_STATES:
                    raise _Failed(*_RPC_STATES[first])
                first = await self._query(domain, start, end, None)  # retried alone
            stats = list(first.stats)
            refused = first.refused
            token, pages = first.next_page_token, 1
            while token is not None:
                if pages >= _MAX_PAGES:
                    raise _Failed(GmailState.UNAVAILABLE, "too_many_pages")
                page = await self._query(domain, start, end, token)
                stats += page.stats
                refused += page.refused
                token, pages = page.next_page_token, pages + 1
        except _Failed as failed:
            return GmailDomainImport(domain, failed.state, reason=failed.reason)
        except GmailFormatError:
            return GmailDomainImport(domain, GmailState.UNAVAILABLE, reason="malformed")
        compliance, compliance_failed = await self._compliance(domain)
        unique, conflicting = _one_per_day(stats)
        refused += conflicting
        # Reported beside the state: entries refused (a day whose value was refused is not
        # stored, and the day before it stays the latest, as SNDS's unreadable lines), and a
        # compliance status that could not be read (the last one stored stands meanwhile).
        notes = [f"refused_entries:{refused}"] if refused else []
        notes += [f"compliance:{compliance_failed}"] if compliance_failed else []
        if refused and not unique:
            # Every entry refused: what the domain's days are could not be read (an empty
            # answer is no_data: too little volume, or the day not published yet).
            return GmailDomainImport(
                domain, GmailState.UNAVAILABLE, compliance=compliance, reason=", ".join(notes)
            )
        return GmailDomainImport(
            domain,
            GmailState.OK if unique else GmailState.NO_DATA,
            stats=tuple(sorted(unique.values(), key=_order)),
            compliance=compliance,
            reason=", ".join(notes),
        )

    async def _query(
        self, domain: str, start: dt.date, end: dt.date, token: str | None
    ) -> QueryPage:
        path = f"/v2/domains/{quote(domain, safe='')}/domainStats:query"
        doc = await self._post(path, query_body(domain, start, end, token))
        return parse_query(domain, doc, (start, end))

    async def _compliance(self, domain: str) -> tuple[tuple[GmailCompliance, ...] | None, str]:
        """The compliance status, or None and why not (the last stored one stands)."""
        try:
            doc = await self._call("GET", f"/v2/domains/{quote(domain, safe='')}/complianceStatus")
            return parse_compliance(doc), ""
        except (_Failed, GmailFormatError) as exc:
            reason = getattr(exc, "reason", "malformed")
            log.info(
                "gmail compliance status not imported", extra={"domain": domain, "reason": reason}
            )
            return None, reason

    async def _post(self, path: str, body: Mapping[str, object]) -> object:
        return await self._call("POST", path, body)

    async def _call(self, method: str, path: str, body: object = None) -> object:
        answer = await self._send(method, path, body)
        if answer.status == 401:  # an expired or revoked token: one fresh token, once
            self._force_refresh = True
            answer = await self._send(method, path, body)
        if answer.status == 200:
            return load_body(answer.body)
        raise _Failed(*_failure(answer))

    async def _send(self, method: str, path: str, body: object) -> Answer:
        async def headers() -> Mapping[str, str]:
            force, self._force_refresh = self._force_refresh, False
            try:
                token = await self._tokens.token(force=force)
            except TokenError as exc:
                state = GmailState.PERMISSION_DENIED if exc.refused else GmailState.UNAVAILABLE
                raise _Failed(state, "token_refused" if exc.refused else "token_failed") from None
            return {"Authorization": f"Bearer {token}"}

        return await fetch(
            self._session,
            method,
            self._base + path,
            headers=headers,
            json_body=body,
            retry=self._retry,
            sleep=self._sleep or asyncio.sleep,
        )


def _failure(answer: Answer) -> tuple[GmailState, str]:
    status = answer.status
    try:
        detail = parse_error_status(load_body(answer.body)).lower()
    except GmailFormatError:
        detail = ""
    if status == 401:
        return GmailState.UNVERIFIED, "unauthenticated"
    if status == 404:
        return GmailState.UNVERIFIED, "not_found"
    if status == 403:
        return GmailState.PERMISSION_DENIED, detail or "permission_denied"
    return GmailState.UNAVAILABLE, answer.reason


def _order(stat: GmailStat) -> tuple[dt.date, str]:
    return (stat.day, stat.metric)


# Metrics where a higher value is the worse one (the others are success or TLS rates).
_HIGHER_IS_WORSE = frozenset(
    {"spam_rate", "delivery_error", "delivery_reject", "delivery_temp_fail"}
)


def _one_per_day(stats: Sequence[GmailStat]) -> tuple[dict[tuple[dt.date, str], GmailStat], int]:
    """One value per (day, metric): a page repeated gives the same value twice; two values
    that differ keep the worse (a spam rate of 0.42 % must not read as 0 because its
    entry came first) and the other is counted as refused."""
    unique: dict[tuple[dt.date, str], GmailStat] = {}
    conflicting = 0
    for stat in stats:
        key = (stat.day, stat.metric)
        seen = unique.get(key)
        if seen is None:
            unique[key] = stat
        elif seen.value != stat.value:
            conflicting += 1
            higher = stat.value > seen.value
            if higher == (stat.metric in _HIGHER_IS_WORSE):
                unique[key] = stat
    return unique, conflicting
