"""Bearer-token checks for the routes that need a token, in constant time."""

from __future__ import annotations

import hmac

from aiohttp import web

from monitor.http.errors import json_error

__all__ = ["authorize"]


def authorize(request: web.Request, *tokens: str | None) -> web.Response | None:
    """None when the request carries one of ``tokens``; otherwise the 401/403 to send.

    401 without a Bearer token; 403 with a token that matches none. A route whose
    tokens are not configured refuses everything (403): no token is never "open".
    Tokens are compared with ``hmac.compare_digest``.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = json_error(401, "missing bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="delivermon"'
        return response
    # Header bytes that are not UTF-8 arrive as surrogates: they match no token (403).
    presented = given.strip().encode("utf-8", "replace")
    for token in tokens:
        if token and hmac.compare_digest(presented, token.encode()):
            return None
    return json_error(403, "invalid token")
