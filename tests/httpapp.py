"""The ingestion and query API as an aiohttp app for tests, built the way the daemon builds
it: settings from ``build_settings``, the route table, the same context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import aiohttp
from aiohttp import web

from checks.dnsbl.catalogue import load_catalogue
from monitor.config import Config
from monitor.daemon.app import register_configured_campaigns
from monitor.daemon.settings import build_settings
from monitor.http.context import Confirmer, HttpContext, confirm_subscription
from monitor.http.routes import build_app
from monitor.http.snscerts import SnsCertificateFetcher
from monitor.http.table import API_ROUTES
from monitor.model.privacy import Pseudonymizer
from monitor.store.models import Store


async def api_app(
    config: Config,
    store: Store,
    pseudonymizer: Pseudonymizer,
    *,
    clock: Callable[[], dt.datetime],
    confirm: Confirmer = confirm_subscription,
    sns_certificates: SnsCertificateFetcher | None = None,
) -> web.Application:
    """Start it with aiohttp's TestServer; ``[[campaigns]]`` are registered at startup."""
    session = aiohttp.ClientSession()
    try:
        settings = build_settings(config, catalogue=load_catalogue(), session=session)
    except BaseException:
        await session.close()
        raise
    context = HttpContext(
        settings=lambda: settings,
        store=store,
        pseudonymizer=pseudonymizer,
        clock=clock,
        confirm=confirm,
        sns_certificates=sns_certificates or SnsCertificateFetcher(),
    )
    app = build_app(context, API_ROUTES, max_body_bytes=config.http.max_body_bytes)

    async def register(_app: web.Application) -> None:
        await register_configured_campaigns(store, config)  # type: ignore[arg-type]

    async def close(_app: web.Application) -> None:
        await session.close()

    app.on_startup.append(register)
    app.on_cleanup.append(close)
    return app
