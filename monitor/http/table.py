"""Every route the daemon serves, one table per module, joined here.

``API_ROUTES`` is the ingestion and query API (what a test app needs); ``DAEMON_ROUTES``
adds the daemon's own (metrics, readiness, targets, reload). Adding a route is one
``RouteSpec`` in its module's ``ROUTES`` (see docs/architecture.md).
"""

from __future__ import annotations

from monitor.http import (
    campaigns_api,
    dmarc_api,
    events_api,
    feedback_api,
    subjects_api,
    system,
)
from monitor.http.routes import RouteSpec

__all__ = ["API_ROUTES", "DAEMON_ROUTES"]

API_ROUTES: tuple[RouteSpec, ...] = (
    *system.HEALTH_ROUTES,
    *events_api.ROUTES,
    *feedback_api.ROUTES,
    *campaigns_api.ROUTES,
    *subjects_api.ROUTES,
    *dmarc_api.ROUTES,
)
DAEMON_ROUTES: tuple[RouteSpec, ...] = (*API_ROUTES, *system.ROUTES)
