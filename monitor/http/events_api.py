"""``POST /api/v1/events``: validated whole, stored, then acknowledged (202).

A batch with any invalid event is refused whole (400, with per-item errors) and
nothing of it is stored; re-sent events with the same idempotency key count once.
"""

from __future__ import annotations

from aiohttp import web

from monitor.http.context import KEY_CONTEXT
from monitor.http.errors import json_error
from monitor.http.routes import Access, RouteSpec
from monitor.ingest.events import MAX_BATCH, EventIn, parse_batch, parse_batch_body

__all__ = ["MAX_BATCH", "ROUTES", "EventIn", "parse_batch"]


def refuse(errors: list[dict[str, object]]) -> web.Response:
    return json_error(400, "invalid events: the batch was refused whole", errors=errors)


async def _post_events(request: web.Request) -> web.Response:
    context = request.app[KEY_CONTEXT]
    if request.content_type != "application/json":
        return json_error(415, "Content-Type must be application/json")
    events, errors = parse_batch_body(await request.read(), context.clock())
    if errors:
        return refuse(errors)
    result = await context.store.add_events(events, context.pseudonymizer)
    return web.json_response(
        {"accepted": result.accepted, "duplicates": result.duplicates}, status=202
    )


ROUTES = (RouteSpec("POST", "/api/v1/events", _post_events, Access.INGEST, source="events"),)
