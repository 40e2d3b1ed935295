"""The daemon's own routes: /healthz, /metrics, /readyz, /api/v1/targets, /api/v1/telemetry,
/-/reload, and a middleware that counts ingestion accepted and refused by source and reason.

Handlers reach the daemon's services through ``KEY_SYSTEM``, typed by narrow protocols,
so this module does not import the composition root.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from checks.dnsbl.targets import TargetError, parse_target
from monitor.checking.documents import JsonValue
from monitor.http.errors import CLIENT_ABORTED, SKIPPED_ITEMS, json_error
from monitor.http.routes import KEY_INGEST_SOURCES, Access, Handler, RouteSpec
from monitor.telemetry.documents import status_document
from monitor.telemetry.views import TelemetryView

__all__ = [
    "HEALTH_ROUTES",
    "KEY_SYSTEM",
    "ROUTES",
    "IngestCounter",
    "ReloadOutcome",
    "SystemServices",
    "ingest_metrics_middleware",
]


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    ok: bool
    problems: tuple[str, ...] = ()
    restart_required: tuple[str, ...] = ()


class Readiness(Protocol):
    async def check(self) -> tuple[bool, Mapping[str, JsonValue]]: ...


class TargetQuery(Protocol):
    async def documents(self, target: str | None) -> Sequence[dict[str, JsonValue]]: ...


# Validates and swaps in the config file (the composition root's reload).
Reloader = Callable[[], Awaitable[ReloadOutcome]]


@dataclass(frozen=True, slots=True)
class SystemServices:
    registry: CollectorRegistry
    readiness: Readiness
    targets: TargetQuery
    reload: Reloader
    telemetry: Callable[[], TelemetryView]  # what the last imports (or the store) say


KEY_SYSTEM = web.AppKey("system", SystemServices)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[KEY_SYSTEM].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _readyz(request: web.Request) -> web.Response:
    ready, components = await request.app[KEY_SYSTEM].readiness.check()
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "components": components},
        status=200 if ready else 503,
    )


async def _targets(request: web.Request) -> web.Response:
    docs = await request.app[KEY_SYSTEM].targets.documents(None)
    return web.json_response({"version": 1, "targets": list(docs)})


async def _target(request: web.Request) -> web.Response:
    raw = request.match_info["target"]
    try:
        # As the config and the CLI spell it: a domain lower-case, without its root dot
        # (A-labels), an IP address in its shortest form.
        name = parse_target(raw).text
    except TargetError:
        name = raw
    docs = await request.app[KEY_SYSTEM].targets.documents(name)
    if not docs:
        return json_error(404, "not a configured target")
    return web.json_response(docs[0])


async def _telemetry(request: web.Request) -> web.Response:
    """The ``delivermon telemetry status --json`` document, from the daemon's current view."""
    return web.json_response(status_document(request.app[KEY_SYSTEM].telemetry()))


async def _reload(request: web.Request) -> web.Response:
    outcome = await request.app[KEY_SYSTEM].reload()
    body = {
        "reloaded": outcome.ok,
        "problems": list(outcome.problems),
        "restart_required": list(outcome.restart_required),
    }
    return web.json_response(body, status=200 if outcome.ok else 400)


HEALTH_ROUTES = (RouteSpec("GET", "/healthz", _healthz, Access.PUBLIC),)
ROUTES = (
    RouteSpec("GET", "/metrics", _metrics, Access.PUBLIC),
    RouteSpec("GET", "/readyz", _readyz, Access.PUBLIC),
    RouteSpec("GET", "/api/v1/targets", _targets, Access.PUBLIC, query=()),
    RouteSpec("GET", "/api/v1/targets/{target}", _target, Access.PUBLIC, query=()),
    RouteSpec("GET", "/api/v1/telemetry", _telemetry, Access.READ, query=()),
    RouteSpec("POST", "/-/reload", _reload, Access.ADMIN),
)


# --- ingest accounting -------------------------------------------------------------

_REASONS = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_enabled",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


class IngestCounter(Protocol):
    def accepted(self, source: str) -> None: ...

    def refused(self, source: str, reason: str) -> None: ...

    def skipped(self, source: str, items: int) -> None: ...


def ingest_metrics_middleware(counter: IngestCounter) -> Middleware:
    """Count each request to an ingestion route (a route with a ``source``): accepted (2xx)
    or refused by reason (the status class); and the items an accepted batch skipped."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        source = _source(request)
        if source is None:
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _count(counter, source, exc.status)
            raise
        except Exception:
            _count(counter, source, 500)
            raise
        if response.get(CLIENT_ABORTED, False):
            counter.refused(source, "client_aborted")
        else:
            _count(counter, source, response.status)
        skipped = response.get(SKIPPED_ITEMS, 0)
        if skipped:
            counter.skipped(source, skipped)
        return response

    return middleware


def _source(request: web.Request) -> str | None:
    return request.app[KEY_INGEST_SOURCES].get((request.method, request.path))


def _count(counter: IngestCounter, source: str, status: int) -> None:
    if status < 300:
        counter.accepted(source)
    elif status >= 500:
        counter.refused(source, "server_error")
    else:
        counter.refused(source, _REASONS.get(status, "other"))
