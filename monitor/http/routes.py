"""The route table and the application factory.

Every route is one ``RouteSpec``: method, path, handler, who may call it (``Access``)
and, for ingestion, the ``source`` its requests are counted under. The factory
registers the table and enforces ``Access`` before a handler runs, so a handler never
checks tokens itself and a route cannot be added without saying who may call it. The
authorisation tests walk the same table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web
from aiohttp.typedefs import Middleware

from monitor.http.auth import authorize
from monitor.http.context import KEY_CONTEXT, HttpContext
from monitor.http.errors import error_middleware, quiet_client_faults

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


KEY_ROUTES = web.AppKey("routes", tuple[RouteSpec, ...])
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
    table = tuple(routes)
    app[KEY_ROUTES] = table
    app[KEY_INGEST_SOURCES] = {(s.method, s.path): s.source for s in table if s.source}
    for spec in table:
        if spec.method == "GET":  # and HEAD, as aiohttp does for GET routes
            app.router.add_get(spec.path, _guarded(spec))
        else:
            app.router.add_route(spec.method, spec.path, _guarded(spec))
    return app


def _guarded(spec: RouteSpec) -> Handler:
    if spec.access in (Access.PUBLIC, Access.PROVIDER):
        return spec.handler
    handler = spec.handler
    access = spec.access

    async def guarded(request: web.Request) -> web.StreamResponse:
        settings = request.app[KEY_CONTEXT].settings()
        tokens = {
            Access.INGEST: (settings.ingest_token,),
            Access.ADMIN: (settings.admin_token,),
            Access.READ: (settings.admin_token, settings.ingest_token),
        }[access]
        denied = authorize(request, *tokens)
        if denied is not None:
            return denied
        return await handler(request)

    return guarded
