"""The daemon's own routes: /metrics, /readyz, /api/v1/targets, /-/reload, and a middleware
that counts ingestion accepted and refused by source and reason.

Handlers reach the daemon through ``KEY_DAEMON``, typed by the ``DaemonApi`` protocol,
so this module does not import the composition root.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.checking.documents import JsonValue
from monitor.http.app import KEY_DEPS
from monitor.http.auth import check_bearer
from monitor.http.errors import json_error
from monitor.metrics.collector import Metrics

__all__ = ["KEY_DAEMON", "DaemonApi", "ReloadOutcome", "add_routes", "ingest_metrics_middleware"]


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    ok: bool
    problems: tuple[str, ...] = ()
    restart_required: tuple[str, ...] = ()


class DaemonApi(Protocol):
    metrics: Metrics

    async def readiness(self) -> tuple[bool, Mapping[str, JsonValue]]: ...

    async def target_documents(self, target: str | None) -> Sequence[dict[str, JsonValue]]: ...

    async def reload(self) -> ReloadOutcome: ...


KEY_DAEMON = web.AppKey("daemon", DaemonApi)


def add_routes(app: web.Application, daemon: DaemonApi) -> None:
    app[KEY_DAEMON] = daemon
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/api/v1/targets", _targets)
    app.router.add_get("/api/v1/targets/{target}", _target)
    app.router.add_post("/-/reload", _reload)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[KEY_DAEMON].metrics.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _readyz(request: web.Request) -> web.Response:
    ready, components = await request.app[KEY_DAEMON].readiness()
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "components": components},
        status=200 if ready else 503,
    )


async def _targets(request: web.Request) -> web.Response:
    docs = await request.app[KEY_DAEMON].target_documents(None)
    return web.json_response({"version": 1, "targets": list(docs)})


async def _target(request: web.Request) -> web.Response:
    docs = await request.app[KEY_DAEMON].target_documents(request.match_info["target"])
    if not docs:
        return json_error(404, "not a configured target")
    return web.json_response(docs[0])


async def _reload(request: web.Request) -> web.Response:
    denied = check_bearer(request, request.app[KEY_DEPS].admin_token)
    if denied is not None:
        return denied
    outcome = await request.app[KEY_DAEMON].reload()
    body = {
        "reloaded": outcome.ok,
        "problems": list(outcome.problems),
        "restart_required": list(outcome.restart_required),
    }
    return web.json_response(body, status=200 if outcome.ok else 400)


# --- ingest accounting -------------------------------------------------------------

_SOURCES = {
    "/api/v1/events": "events",
    "/api/v1/feedback/arf": "arf",
    "/api/v1/webhooks/ses": "ses",
    "/api/v1/webhooks/sendgrid": "sendgrid",
    "/api/v1/webhooks/mailgun": "mailgun",
    "/api/v1/webhooks/postmark": "postmark",
}
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

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ingest_metrics_middleware(
    metrics: Metrics,
) -> Middleware:
    """Count each ingest request: accepted (2xx) or refused by reason (the status class)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        source = _SOURCES.get(request.path)
        if source is None or request.method != "POST":
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _count(metrics, source, exc.status)
            raise
        except Exception:
            _count(metrics, source, 500)
            raise
        _count(metrics, source, response.status)
        return response

    return middleware


def _count(metrics: Metrics, source: str, status: int) -> None:
    if status < 300:
        metrics.ingest_accepted.labels(source).inc()
    elif status >= 500:
        metrics.ingest_refused.labels(source, "server_error").inc()
    else:
        metrics.ingest_refused.labels(source, _REASONS.get(status, "other")).inc()
