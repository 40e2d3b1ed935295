"""The route table and the application factory.

Every route is one ``RouteSpec``: method, path, handler, who may call it (``Access``)
and, for ingestion, the ``source`` its requests are counted under. The factory
registers the table and enforces ``Access`` before a handler runs, so a handler never
checks tokens itself and a route cannot be added without saying who may call it. The
authorisation tests walk the same table.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web
from aiohttp.typedefs import Middleware

from monitor.http.auth import authorize
from monitor.http.context import KEY_CONTEXT, HttpContext
from monitor.http.errors import (
    KEY_REFUSALS,
    KEY_WEBHOOK_REFUSALS,
    RefusalLog,
    RepeatedWarning,
    error_middleware,
    json_error,
    quiet_client_faults,
)

__all__ = ["KEY_INGEST_SOURCES", "KEY_ROUTES", "Access", "Handler", "RouteSpec", "build_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Access(StrEnum):
    """Who may call a route.

    ``public``: anyone (health, readiness, metrics, check results: no personal data).
    ``ingest``: the ingest token. ``admin``: the admin token. ``read``: either token
    (aggregates: business data, no personal data). ``provider``: the ESP's own
    verification (a signature or Basic credentials), checked by the handler.
    """

    PUBLIC = "public"
    INGEST = "ingest"
    ADMIN = "admin"
    READ = "read"
    PROVIDER = "provider"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    access: Access
    source: str | None = None  # delivermon_ingest_*_total{source}: an ingestion route
    # The handler checks the caller from the headers before it reads the body (Postmark's
    # Basic credentials): the body is not read ahead of that check.
    checks_before_body: bool = False
    # A webhook the config may leave off: when this says False, 404 before the
    # body is read (the handler checks again: a reload may come between).
    enabled: Callable[[HttpContext], bool] | None = None
    # The query parameters the route reads: any other is a 400 (a typo would otherwise
    # be answered as if the parameter had not been given). None: not checked, as on the
    # ingestion routes, whose URLs a sender may give parameters of its own.
    query: tuple[str, ...] | None = None


KEY_ROUTES = web.AppKey("routes", tuple[RouteSpec, ...])

# Bodies read at once, and how long one may take: what holds memory is bounded by
# (BODY_SLOTS + SIGNED_BODY_SLOTS) x max_body_bytes, and a client that sends one byte a
# second holds a slot for BODY_SECONDS at most. The webhooks whose caller is known only
# from a signature over the body (SES, SendGrid, Mailgun) read into slots of their own:
# strangers' slow bodies there never hold up a caller with a token. A request waits for
# a slot BODY_SECONDS at most (503 after).
BODY_SLOTS = 16
SIGNED_BODY_SLOTS = 8
BODY_SECONDS = 30.0


@dataclass(slots=True)
class BodyLimits:
    max_bytes: int
    slots: asyncio.Semaphore
    signed_slots: asyncio.Semaphore
    seconds: float = BODY_SECONDS


KEY_BODIES = web.AppKey("bodies", BodyLimits)
_PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.\[\]-]{1,40}")
# The request body encodings aiohttp decodes without optional packages (one, not a list).
_ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})


# (method, path) -> source, of the ingestion routes
KEY_INGEST_SOURCES = web.AppKey("ingest_sources", dict[tuple[str, str], str])


def build_app(
    context: HttpContext,
    routes: Iterable[RouteSpec],
    *,
    max_body_bytes: int,
    middlewares: Sequence[Middleware] = (),
) -> web.Application:
    """Bodies over ``max_body_bytes`` get 413 before they are read into memory.

    ``middlewares`` run outside the JSON error middleware (they see final statuses).
    """
    quiet_client_faults()
    app = web.Application(
        client_max_size=max_body_bytes, middlewares=[*middlewares, error_middleware]
    )
    app[KEY_CONTEXT] = context
    app[KEY_REFUSALS] = RefusalLog()
    app[KEY_WEBHOOK_REFUSALS] = RepeatedWarning(logging.getLogger("monitor.http.feedback_api"))
    app[KEY_BODIES] = BodyLimits(
        max_body_bytes, asyncio.Semaphore(BODY_SLOTS), asyncio.Semaphore(SIGNED_BODY_SLOTS)
    )
    table = tuple(routes)
    app[KEY_ROUTES] = table
    app[KEY_INGEST_SOURCES] = {(s.method, s.path): s.source for s in table if s.source}
    for spec in table:
        if spec.method == "GET":  # and HEAD, as aiohttp does for GET routes
            app.router.add_get(spec.path, _guarded(spec))
        else:
            app.router.add_route(spec.method, spec.path, _guarded(spec))
    return app


def _unknown_query(request: web.Request, spec: RouteSpec) -> web.Response | None:
    """400 naming a query parameter the route does not read (when it says which it reads)."""
    if spec.query is None:
        return None
    unknown = sorted(set(request.query) - set(spec.query))
    if not unknown:
        return None
    takes = ", ".join(spec.query) or "none"
    # The name is the client's text (an address, say): named only when it looks like one.
    name = repr(unknown[0]) if _PARAMETER_NAME.fullmatch(unknown[0]) else "<redacted>"
    return json_error(400, f"unknown query parameter {name} (this route takes: {takes})")


def _guarded(spec: RouteSpec) -> Handler:
    handler = spec.handler
    access = spec.access
    if access is Access.PUBLIC:
        if spec.query is None:
            return handler

        async def checked(request: web.Request) -> web.StreamResponse:
            return _unknown_query(request, spec) or await handler(request)

        return checked

    async def guarded(request: web.Request) -> web.StreamResponse:
        limits = request.app[KEY_BODIES]
        length = request.content_length
        if length is not None and length > limits.max_bytes:
            # Declared too large: refused before a byte of it is read.
            return json_error(413, "request body too large")
        if spec.enabled is not None and not spec.enabled(request.app[KEY_CONTEXT]):
            return json_error(404, "webhook not configured")
        if access is not Access.PROVIDER:
            settings = request.app[KEY_CONTEXT].settings()
            tokens = {
                Access.INGEST: (settings.ingest_token,),
                Access.ADMIN: (settings.admin_token,),
                Access.READ: (settings.admin_token, settings.ingest_token),
            }[access]
            denied = authorize(request, *tokens)
            if denied is not None:
                return denied
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if request.body_exists and encoding not in _ENCODINGS:
            # aiohttp passes a body in an encoding it does not decode as it is (read as
            # JSON or mail, it would be refused for the wrong reason, or taken).
            return json_error(
                415, f"unsupported Content-Encoding {encoding[:40]!r} (identity, gzip or deflate)"
            )
        refused = _unknown_query(request, spec)
        if refused is not None:
            return refused
        if not spec.checks_before_body:
            slots = limits.signed_slots if access is Access.PROVIDER else limits.slots
            slow = await _read_body(request, slots, limits.seconds)
            if slow is not None:
                return slow
        return await handler(request)

    return guarded


async def _read_body(
    request: web.Request, slots: asyncio.Semaphore, seconds: float
) -> web.Response | None:
    """Read the body now (the handler's ``read()`` then returns it), holding one of
    ``slots``, within ``seconds``; the 408 to send when it took longer, or the 503 when no
    slot was free for as long."""
    if not request.body_exists:
        return None
    try:
        async with asyncio.timeout(seconds):
            await slots.acquire()
    except TimeoutError:
        return json_error(503, "too many request bodies being read at once; retry later")
    try:
        async with asyncio.timeout(seconds):
            await request.read()
    except TimeoutError:
        return json_error(408, "request body too slow")
    finally:
        slots.release()
    return None
