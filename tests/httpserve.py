"""aiohttp apps (delivermon's HTTP API, stand-ins) served on 127.0.0.1 for a test, and
the POST that the API tests send them.

The `serve_http` fixture (conftest.py) hands a test `ServeHttp`; `served_apps` is
what it runs on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import leaks
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from dnsserver import HOST


class ServeHttp(Protocol):
    """Serve `app` on a free 127.0.0.1 port; return ``http://127.0.0.1:PORT``."""

    async def __call__(self, app: web.Application, **start_options: Any) -> str: ...


@contextlib.asynccontextmanager
async def served_apps() -> AsyncIterator[ServeHttp]:
    """Yield `ServeHttp`; every app served through it is closed on leaving.

    `start_options` go to ``TestServer.start_server`` (for example the daemon's
    ``access_log_class``). The base URL has no trailing slash.
    """
    servers: list[TestServer] = []

    async def serve(app: web.Application, **start_options: Any) -> str:
        server = TestServer(app, host=HOST)
        await server.start_server(**start_options)
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    try:
        yield serve
    finally:
        for server in servers:
            await server.close()


async def post_for_json(
    url: str,
    body: bytes | str,
    *,
    headers: Mapping[str, str] | None = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """POST `body` to `url`; return the status and the answer, which must be JSON.

    `token` goes in ``Authorization: Bearer``; `headers` are sent as given.
    """
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        ClientSession() as session,
        session.post(url, data=body, headers=sent) as response,
    ):
        assert response.content_type == "application/json"
        body = await response.read()
        if "/api/v1/subjects/" not in url:  # a subject export is that person's data
            leaks.RESPONSES.append(body)
        return response.status, await response.json()
