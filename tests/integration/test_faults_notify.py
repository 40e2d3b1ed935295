"""Notifier endpoints that hang, reset the connection or answer 500, against the real
outbox (SQLite and PostgreSQL) and real webhook notifiers.

The misbehaving endpoints are local servers made to misbehave (a stand-in peer: a healthy
server does not do this on demand). Pins: the healthy notifier's delivery is not held up
by the others; each failure is retried with exponential back-off (the clock is a value the
test moves); once the endpoints recover every notification is delivered exactly once.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from httpserve import ServeHttp
from test_outbox import Clock, counted, queue, sender

from monitor.alerting.notify import RetryPolicy, Route, WebhookNotifier
from monitor.metrics.collector import Metrics, MetricsSources
from monitor.store import SqlStore

HANG_TIMEOUT = 0.5  # the hanging notifier's [[notify]] timeout


class Endpoint:
    """One webhook endpoint: ``healthy`` answers 200; otherwise it does its ``fault``."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.healthy = fault == "none"
        self.received = 0
        self.attempts = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        await request.read()
        if not self.healthy:
            if self.fault == "hang":
                await asyncio.sleep(30)
            if self.fault == "reset":
                transport = request.transport
                assert transport is not None
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()  # RST
                raise asyncio.CancelledError
            return web.Response(status=500)
        self.received += 1
        return web.Response(status=200)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def _serve(serve_http: ServeHttp, endpoint: Endpoint) -> str:
    app = web.Application()
    app.router.add_post("/hook", endpoint.handle)
    return await serve_http(app, shutdown_timeout=0.1) + "/hook"


async def test_hanging_reset_and_failing_notifiers_retry_with_backoff_and_lose_nothing(
    store: SqlStore, serve_http: ServeHttp, session: aiohttp.ClientSession
) -> None:
    metrics = Metrics(MetricsSources(), version="t", catalogue_version="t")
    endpoints = {name: Endpoint(name) for name in ("none", "hang", "reset", "500")}
    routes = {}
    for name, endpoint in endpoints.items():
        url = await _serve(serve_http, endpoint)
        routes[name] = Route(WebhookNotifier(name, url, session=session, timeout=HANG_TIMEOUT))
    await queue(store, *routes)
    clock = Clock()
    policy = RetryPolicy(attempts=5, base_delay=2, max_delay=60)
    out = sender(store, metrics, clock, routes, policy)

    run = asyncio.create_task(out.send_due())
    for _ in range(100):  # the healthy one is delivered while the hanging one still hangs
        if endpoints["none"].received:
            break
        await asyncio.sleep(0.01)
    assert endpoints["none"].received == 1
    assert not run.done()
    assert await run == 1
    assert await store.outbox_counts() == {"pending": 3, "sent": 1, "failed": 0}
    for name in ("hang", "reset", "500"):
        assert counted(metrics, "retry", name) == 1

    # Back-off (jitter 0 here): the k-th retry waits base_delay * 2**(k-1) / 2: 1 s, 2 s, ...
    clock.advance(seconds=0.9)
    assert await out.send_due() == 0
    assert {n: e.attempts for n, e in endpoints.items()} == dict.fromkeys(endpoints, 1)
    clock.advance(seconds=0.2)
    assert await out.send_due() == 0  # retried, still failing; the next wait is 2 s
    clock.advance(seconds=1.9)
    assert await out.send_due() == 0
    assert [endpoints[n].attempts for n in ("hang", "reset", "500")] == [2, 2, 2]
    for name in ("hang", "reset", "500"):
        assert counted(metrics, "retry", name) == 2

    for endpoint in endpoints.values():  # the endpoints recover
        endpoint.healthy = True
    clock.advance(seconds=0.2)
    assert await out.send_due() == 3
    assert await store.outbox_counts() == {"pending": 0, "sent": 4, "failed": 0}
    assert [e.received for e in endpoints.values()] == [1, 1, 1, 1]  # each exactly once
    clock.advance(minutes=10)
    assert await out.send_due() == 0
    assert [e.received for e in endpoints.values()] == [1, 1, 1, 1]
