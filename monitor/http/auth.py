"""Bearer-token checks for the ingest and admin routes, in constant time."""

from __future__ import annotations

import hmac

from aiohttp import web

from monitor.http.errors import json_error

__all__ = ["check_bearer"]


def check_bearer(request: web.Request, expected: str | None) -> web.Response | None:
    """None when the request carries the expected token; otherwise the 401/403 to send.

    A route whose token is not configured refuses everything (403): no token is
    never "open". Tokens are compared with ``hmac.compare_digest``.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        response = json_error(401, "missing bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="delivermon"'
        return response
    if not expected or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return json_error(403, "invalid token")
    return None
