"""The aiohttp application factory: routes, limits, and the objects handlers reach."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware as _Middleware

from monitor.config import Config, resolve_secret
from monitor.http import campaigns_api, feedback_api
from monitor.http.auth import check_bearer
from monitor.http.errors import error_middleware, json_error
from monitor.http.events_api import parse_batch, refuse
from monitor.model.privacy import Pseudonymizer
from monitor.store.models import Store

__all__ = ["KEY_DEPS", "HttpDeps", "build_app"]


@dataclass(slots=True)
class HttpDeps:
    """What handlers reach through ``request.app[KEY_DEPS]``; built once by the composition root.

    Not frozen: a config reload replaces ``config`` in place (one assignment, atomic
    for handlers, which read it once per request).
    """

    config: Config
    store: Store
    pseudonymizer: Pseudonymizer
    clock: Callable[[], dt.datetime]

    @property
    def ingest_token(self) -> str | None:
        token = self.config.http.ingest_token
        return resolve_secret(token) if token else None

    @property
    def admin_token(self) -> str | None:
        token = self.config.http.admin_token
        return resolve_secret(token) if token else None


KEY_DEPS = web.AppKey("deps", HttpDeps)
Middleware = _Middleware


def build_app(deps: HttpDeps, *, middlewares: Sequence[Middleware] = ()) -> web.Application:
    """Bodies over ``max_body_bytes`` get 413 before they are read into memory.

    ``middlewares`` run outside the JSON error middleware (they see final statuses).
    """
    app = web.Application(
        client_max_size=deps.config.http.max_body_bytes,
        middlewares=[*middlewares, error_middleware],
    )
    app[KEY_DEPS] = deps
    app.router.add_get("/healthz", _healthz)
    app.router.add_post("/api/v1/events", _post_events)
    for module in (feedback_api, campaigns_api):
        module.add_routes(app)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _post_events(request: web.Request) -> web.Response:
    deps = request.app[KEY_DEPS]
    denied = check_bearer(request, deps.ingest_token)
    if denied is not None:
        return denied
    if request.content_type != "application/json":
        return json_error(415, "Content-Type must be application/json")
    body = await request.json()
    events, errors = parse_batch(body, deps.clock())
    if errors:
        return refuse(errors)
    result = await deps.store.add_events(events, deps.pseudonymizer)
    return web.json_response(
        {"accepted": result.accepted, "duplicates": result.duplicates}, status=202
    )
