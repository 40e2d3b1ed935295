"""Errors leave as JSON ``{"error": "..."}`` with the right status; the process keeps running."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from monitor.model.jsontext import JsonRefused
from monitor.store.errors import StoreUnavailableError

__all__ = ["error_middleware", "json_error"]

log = logging.getLogger(__name__)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """HTTP errors as JSON; an unexpected exception is logged with its traceback and is a 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        reason = exc.reason if exc.status != 413 else "request body too large"
        return json_error(exc.status, reason.lower())
    except JsonRefused as exc:
        return json_error(400, "body is not valid JSON", reason=exc.reason)
    except StoreUnavailableError:
        # The store did not answer or refused the write: nothing was stored, retry later.
        log.warning("request refused: store unavailable", extra={"path": request.path})
        return json_error(503, "store unavailable, retry later")
    except Exception:
        # The boundary that keeps the daemon alive: log, answer 500, carry on.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500, "internal error")
