"""DMARC routes: ``POST /api/v1/dmarc/reports`` (a kind of mail, see ``mail_api``) and the
per-domain views ``GET /api/v1/dmarc/domains/{domain}`` and ``.../sources``.

The views read the stored reports and the classification the daemon's ``dmarc`` job
wrote (``dmarc_sources``); a source not yet classified reads ``unclassified``.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from checks.domains import DomainError, to_a_label
from monitor.http.context import KEY_CONTEXT
from monitor.http.errors import json_error, repeated_query
from monitor.http.mail_api import kind_route
from monitor.http.routes import Access, RouteSpec
from monitor.ingest.dmarc.analysis import (
    MAX_DAYS,
    MAX_SOURCES,
    MAX_SOURCES_LIMIT,
    METRIC_CLASSIFICATIONS,
    domain_sources,
    domain_summary,
)
from monitor.ingest.kinds import DMARC

__all__ = ["DMARC_CONTENT_TYPES", "ROUTES"]

DMARC_CONTENT_TYPES = frozenset(
    {
        "application/xml",
        "text/xml",
        "application/gzip",
        "application/x-gzip",
        "application/zip",
        "application/x-zip-compressed",
        "application/octet-stream",
        "message/rfc822",
    }
)
_DEFAULT_DAYS = 30
_MAX_OFFSET = 100_000_000  # far past any domain's sources; bounds the digits read


def _days(value: str | None) -> int | None:
    if value is None:
        return _DEFAULT_DAYS
    # ASCII digits, few of them: not a full-width or superscript digit, nor past int()'s
    # digit limit.
    digits = value.isascii() and value.isdigit() and len(value) <= 6
    return int(value) if digits and 1 <= int(value) <= MAX_DAYS else None


def _count(value: str | None, default: int, low: int, high: int) -> int | None:
    """A query parameter's integer in [low, high] (ASCII digits only), else None."""
    if value is None:
        return default
    digits = value.isascii() and value.isdigit() and len(value) <= 9
    return int(value) if digits and low <= int(value) <= high else None


_SOURCES_QUERY = ("classification", "limit", "offset", "since")


def _domain(request: web.Request) -> str:
    """The path's domain as reports are stored: its A-label, in any case, root dot or not
    (a name that is not a domain is looked up as given, and found in no report)."""
    text = request.match_info["domain"].strip()
    try:
        return to_a_label(text)
    except DomainError:
        return text.lower().rstrip(".")


async def _get_domain(request: web.Request) -> web.Response:
    context = request.app[KEY_CONTEXT]
    if (twice := repeated_query(request, ("days",))) is not None:
        return twice
    days = _days(request.query.get("days"))
    if days is None:
        return json_error(400, f"days must be an integer from 1 to {MAX_DAYS}")
    settings = context.settings()
    summary = await domain_summary(
        context.store, _domain(request), config=settings.config, now=context.clock(), days=days
    )
    if summary is None:
        return json_error(404, "no DMARC report for this domain")
    return web.json_response(summary)


async def _get_sources(request: web.Request) -> web.Response:
    context = request.app[KEY_CONTEXT]
    if (twice := repeated_query(request, _SOURCES_QUERY)) is not None:
        return twice
    classification = request.query.get("classification")
    if classification is not None and classification not in METRIC_CLASSIFICATIONS:
        choices = ", ".join(METRIC_CLASSIFICATIONS)
        return json_error(400, f"classification must be one of: {choices}")
    limit = _count(request.query.get("limit"), MAX_SOURCES, 1, MAX_SOURCES_LIMIT)
    if limit is None:
        return json_error(400, f"limit must be an integer from 1 to {MAX_SOURCES_LIMIT}")
    offset = _count(request.query.get("offset"), 0, 0, _MAX_OFFSET)
    if offset is None:
        return json_error(400, f"offset must be an integer from 0 to {_MAX_OFFSET}")
    since_text = request.query.get("since")
    now = context.clock()
    since = now - dt.timedelta(days=_DEFAULT_DAYS)
    if since_text is not None:
        try:
            since = dt.datetime.fromisoformat(since_text.replace("Z", "+00:00"))
        except ValueError:
            return json_error(400, "since must be an RFC 3339 timestamp")
        if since.tzinfo is None:
            return json_error(400, "since must carry a time zone offset")
    sources = await domain_sources(
        context.store,
        _domain(request),
        config=context.settings().config,
        since=since,
        classification=classification,
        limit=limit,
        offset=offset,
    )
    if sources is None:
        return json_error(404, "no DMARC report for this domain")
    return web.json_response({"domain": _domain(request), "since": _rfc3339(since), **sources})


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


ROUTES = (
    kind_route(
        DMARC,
        "/api/v1/dmarc/reports",
        content_types=DMARC_CONTENT_TYPES,
        refused_status=lambda exc: 400 if exc.reason == "empty" else 422,
    ),
    RouteSpec("GET", "/api/v1/dmarc/domains/{domain}", _get_domain, Access.READ, query=("days",)),
    RouteSpec(
        "GET",
        "/api/v1/dmarc/domains/{domain}/sources",
        _get_sources,
        Access.READ,
        query=_SOURCES_QUERY,
    ),
)
