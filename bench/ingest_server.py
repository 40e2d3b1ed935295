"""The server process of the ingest benchmark: delivermon's aiohttp app over a real store.

Builds the application exactly as the daemon will (``build_app(HttpContext(...), ...)``
over ``open_store(url)``), serves it on 127.0.0.1:PORT with access logging off,
writes its pid to ``--pid-file`` once it listens, and exits cleanly (store
closed) on SIGTERM or SIGINT. The event loop is chosen like the CLI does:
uvloop when installed unless ``DELIVERMON_EVENT_LOOP=asyncio``.

``--profile FILE`` runs the whole process under cProfile and dumps the stats
to FILE on exit (slows the server down: only for finding where time goes).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from monitor.config import Config, HttpConfig
from monitor.http.context import HttpContext
from monitor.http.routes import build_app
from monitor.http.table import API_ROUTES
from monitor.ingest.webhooks.settings import WebhookVerifiers
from monitor.model.privacy import Pseudonymizer
from monitor.store import open_store

HOST = "127.0.0.1"
PSEUDONYM_KEY = b"delivermon-bench-pseudonym-key-0"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--pid-file", type=Path, required=True)
    parser.add_argument("--profile", type=Path, default=None)
    return parser.parse_args(argv)


class _Settings:
    """What the handlers read of the settings: the config, the ingest token, no webhooks."""

    def __init__(self, config: Config, token: str) -> None:
        self.config = config
        self.ingest_token: str | None = token
        self.admin_token: str | None = None
        self.webhooks = WebhookVerifiers()


def _clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def serve(args: argparse.Namespace) -> None:
    store = await open_store(args.store_url)
    config = Config(http=HttpConfig(ingest_token=args.token))
    context = HttpContext(
        settings=lambda: _Settings(config, args.token),
        store=store,
        pseudonymizer=Pseudonymizer(PSEUDONYM_KEY),
        clock=_clock,
    )
    app = build_app(context, API_ROUTES, max_body_bytes=config.http.max_body_bytes)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, HOST, args.port, backlog=1024)
        await site.start()
        args.pid_file.write_text(str(os.getpid()))
        await stop.wait()
    finally:
        await runner.cleanup()
        await store.close()


def _loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    choice = os.environ.get("DELIVERMON_EVENT_LOOP", "auto")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("DELIVERMON_EVENT_LOOP=uvloop but uvloop is not installed") from None
        return None
    return uvloop.new_event_loop  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(args))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
