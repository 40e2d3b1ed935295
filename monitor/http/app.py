"""The aiohttp application factory: routes, limits, and the objects handlers reach."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from monitor.config import HttpConfig, resolve_secret
from monitor.events import Event
from monitor.http.auth import check_bearer
from monitor.http.errors import error_middleware, json_error
from monitor.http.events_api import parse_batch, refuse
from monitor.privacy import Pseudonymizer

__all__ = ["KEY_DEPS", "EventSink", "HttpDeps", "build_app"]


class AddOutcome(Protocol):
    @property
    def accepted(self) -> int: ...

    @property
    def duplicates(self) -> int: ...


class EventSink(Protocol):
    """Where acknowledged events go: returns only after they are committed."""

    async def add_events(
        self, events: Sequence[Event], pseudonymizer: Pseudonymizer
    ) -> AddOutcome: ...


@dataclass(frozen=True, slots=True)
class HttpDeps:
    config: HttpConfig
    sink: EventSink
    pseudonymizer: Pseudonymizer
    clock: Callable[[], dt.datetime]

    @property
    def ingest_token(self) -> str | None:
        return resolve_secret(self.config.ingest_token) if self.config.ingest_token else None


KEY_DEPS = web.AppKey("deps", HttpDeps)


def build_app(deps: HttpDeps) -> web.Application:
    """Bodies over ``max_body_bytes`` get 413 before they are read into memory."""
    app = web.Application(
        client_max_size=deps.config.max_body_bytes, middlewares=[error_middleware]
    )
    app[KEY_DEPS] = deps
    app.router.add_get("/healthz", _healthz)
    app.router.add_post("/api/v1/events", _post_events)
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
    result = await deps.sink.add_events(events, deps.pseudonymizer)
    return web.json_response(
        {"accepted": result.accepted, "duplicates": result.duplicates}, status=202
    )
