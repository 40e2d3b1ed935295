"""Gmail Postmaster Tools API v2: the request bodies and the parsing of the answers (pure).

Shapes from the v2 reference (https://developers.google.com/workspace/gmail/postmaster/
reference/rest/v2, and its discovery document gmailpostmastertools.v2.json):
``domains.domainStats.query`` and ``domainStats.batchQuery`` take
``QueryDomainStatsRequest`` (``metricDefinitions``, ``timeQuery.dateRanges.dateRanges``,
``aggregationGranularity``, ``pageSize``, ``pageToken``) and answer ``domainStats``
(``metric``, ``date`` {year, month, day}, ``value`` {doubleValue | floatValue |
intValue (a string) | ...}) with ``nextPageToken``. "Returns statistics only for dates
where data is available": a missing day is no data, never 0. ``getComplianceStatus``
answers ``complianceData.rowData[].{requirement, status.status}``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.model.errors import MonitorError
from monitor.model.jsontext import JsonRefused, loads_strict
from monitor.model.telemetry import GMAIL_METRICS, GmailCompliance, GmailStat

__all__ = [
    "BATCH_LIMIT",
    "PAGE_SIZE",
    "GmailFormatError",
    "QueryPage",
    "batch_body",
    "load_body",
    "parse_batch",
    "parse_compliance",
    "parse_error_status",
    "parse_query",
    "query_body",
]

PAGE_SIZE = 200  # the documented maximum
BATCH_LIMIT = 100  # "A maximum of 100 requests can be included in a single batch"
_COMPLIANCE_STATUS = {"COMPLIANT": "compliant", "NEEDS_WORK": "needs_work"}


class GmailFormatError(MonitorError):
    """An answer that is not the documented shape (the message names what, never the body)."""


@dataclass(frozen=True, slots=True)
class QueryPage:
    """One page of a domain's statistics, and the token of the next (None: the last)."""

    stats: tuple[GmailStat, ...]
    next_page_token: str | None
    # Entries with an unknown metric, a bad date or a value outside 0..1, a day outside the
    # window asked for, or a ``name`` of another domain: never stored, counted.
    refused: int = 0


def _date(day: dt.date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def query_body(
    domain: str, start: dt.date, end: dt.date, page_token: str | None = None
) -> dict[str, Any]:
    """A ``QueryDomainStatsRequest`` for every statistic in ``GMAIL_METRICS``, daily."""
    body: dict[str, Any] = {
        "parent": f"domains/{domain}",
        "metricDefinitions": [
            {"name": name, "baseMetric": {"standardMetric": metric}, **({"filter": f} if f else {})}
            for name, (metric, f) in GMAIL_METRICS.items()
        ],
        "timeQuery": {"dateRanges": {"dateRanges": [{"start": _date(start), "end": _date(end)}]}},
        "aggregationGranularity": "DAILY",
        "pageSize": PAGE_SIZE,
    }
    if page_token:
        body["pageToken"] = page_token
    return body


def batch_body(domains: Sequence[str], start: dt.date, end: dt.date) -> dict[str, Any]:
    """A ``BatchQueryDomainStatsRequest`` (at most ``BATCH_LIMIT`` domains)."""
    if len(domains) > BATCH_LIMIT:
        raise ValueError(f"at most {BATCH_LIMIT} domains per batch")
    return {"requests": [query_body(d, start, end) for d in domains]}


def load_body(data: bytes) -> object:
    """An answer's body as JSON (strict: no duplicate keys, NaN or runaway nesting).

    Raises:
        GmailFormatError: not such JSON (the message never quotes the body).
    """
    try:
        return loads_strict(data)
    except JsonRefused:
        raise GmailFormatError("the answer is not JSON") from None


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise GmailFormatError(f"{what} is not a JSON object")
    return value


def parse_query(
    domain: str, doc: object, window: tuple[dt.date, dt.date] | None = None
) -> QueryPage:
    """A ``QueryDomainStatsResponse``; an empty object is a window without data. With
    ``window`` (the dates asked for, inclusive) a day outside it is refused: a date in the
    future would otherwise stand as the latest day.

    Raises:
        GmailFormatError: not the documented shape.
    """
    body = _obj(doc, "the answer")
    entries = body.get("domainStats", [])
    if not isinstance(entries, list):
        raise GmailFormatError("domainStats is not a list")
    token = body.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise GmailFormatError("nextPageToken is not a string")
    stats = []
    refused = 0
    for entry in entries:
        stat = _stat(domain, _obj(entry, "a domainStats entry"))
        if stat is None or (window is not None and not window[0] <= stat.day <= window[1]):
            refused += 1
        else:
            stats.append(stat)
    return QueryPage(tuple(stats), token or None, refused)


def _stat(domain: str, entry: Mapping[str, Any]) -> GmailStat | None:
    metric = entry.get("metric")
    if metric not in GMAIL_METRICS:
        return None
    name = entry.get("name")  # "domains/{domain}/domainStats/{id}", when given
    if (
        isinstance(name, str)
        and name.startswith("domains/")
        and name.split("/")[1].lower().rstrip(".") != domain.lower().rstrip(".")
    ):
        return None
    day = _parse_date(entry.get("date"))
    value = _number(entry.get("value"))
    if day is None or value is None or not 0.0 <= value <= 1.0:
        return None
    return GmailStat(domain, day, str(metric), value)


def _parse_date(value: object) -> dt.date | None:
    if not isinstance(value, dict):
        return None
    try:
        return dt.date(int(value["year"]), int(value["month"]), int(value["day"]))
    except (KeyError, TypeError, ValueError):
        return None


def _number(value: object) -> float | None:
    """A ``StatisticValue`` as a float: doubleValue, floatValue or intValue (int64 as a string)."""
    if not isinstance(value, dict):
        return None
    for key in ("doubleValue", "floatValue", "intValue"):
        if key not in value:
            continue
        raw = value[key]
        if isinstance(raw, bool):
            return None
        try:
            number = float(raw) if key != "intValue" else float(int(raw))
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None
    return None


def parse_batch(
    domains: Sequence[str], doc: object, window: tuple[dt.date, dt.date] | None = None
) -> list[QueryPage | int]:
    """A ``BatchQueryDomainStatsResponse``: per request (same order) a page or its error's
    google.rpc code (7 PERMISSION_DENIED, 16 UNAUTHENTICATED, 5 NOT_FOUND, ...).

    Raises:
        GmailFormatError: not the documented shape, or not one result per request.
    """
    results = _obj(doc, "the answer").get("results")
    if not isinstance(results, list) or len(results) != len(domains):
        raise GmailFormatError("results is not one entry per request")
    found: list[QueryPage | int] = []
    for domain, result in zip(domains, results, strict=True):
        entry = _obj(result, "a batch result")
        if "error" in entry:
            code = _obj(entry["error"], "a batch error").get("code")
            found.append(code if isinstance(code, int) and not isinstance(code, bool) else 2)
        else:
            found.append(parse_query(domain, entry.get("response", {}), window))
    return found


def parse_compliance(doc: object) -> tuple[GmailCompliance, ...]:
    """A ``DomainComplianceStatus``: each requirement's status (the registrable domain's rows,
    then the subdomain's, which win), and the one-click and honour-unsubscribe verdicts.

    Raises:
        GmailFormatError: not the documented shape.
    """
    body = _obj(doc, "the answer")
    found: dict[str, str] = {}
    for part in ("complianceData", "subdomainComplianceData"):
        if part not in body:
            continue
        data = _obj(body[part], part)
        rows = data.get("rowData", [])
        if not isinstance(rows, list):
            raise GmailFormatError("rowData is not a list")
        for row in rows:
            row = _obj(row, "a rowData entry")
            requirement = row.get("requirement")
            status = _obj(row.get("status", {}), "a row status").get("status")
            if isinstance(requirement, str) and status in _COMPLIANCE_STATUS:
                found[requirement.lower()] = _COMPLIANCE_STATUS[status]
        for verdict, name in (
            ("oneClickUnsubscribeVerdict", "one_click_unsubscribe"),
            ("honorUnsubscribeVerdict", "honor_unsubscribe"),
        ):
            if verdict in data:
                status = _obj(_obj(data[verdict], verdict).get("status", {}), verdict).get("status")
                if status in _COMPLIANCE_STATUS:
                    found[name] = _COMPLIANCE_STATUS[status]
    return tuple(GmailCompliance(r, s) for r, s in sorted(found.items()))


def parse_error_status(doc: object) -> str:
    """The ``error.status`` (or a known reason in ``details``) of a Google error body, for a
    machine reason; ``""`` when there is none."""
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), dict):
        return ""
    error = doc["error"]
    for detail in error.get("details", []) if isinstance(error.get("details"), list) else []:
        reason = detail.get("reason") if isinstance(detail, dict) else None
        if isinstance(reason, str) and reason.isupper():
            return reason
    status = error.get("status")
    return status if isinstance(status, str) and status.replace("_", "").isalpha() else ""
