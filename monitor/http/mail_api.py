"""The HTTP route of a kind of mail (``monitor.ingest.kinds``): one handler factory, so each
kind's route answers the same way as its CLI command and the IMAP poller ingest it.

``kind_route(kind, path, ...)`` is a ``RouteSpec`` (ingest token, counted as ingestion
source ``kind.name``): 202 ``{"id", "duplicate", <the kind's fields>}`` once committed;
a refusal stores nothing and answers 422 (or what ``refused_status`` says) with
``{"error", "reason"}``; 415 for another media type; 413 over ``[http] max_body_bytes``;
503 when the store cannot take the write (the sender retries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from monitor.http.context import KEY_CONTEXT
from monitor.http.errors import json_error, store_unavailable
from monitor.http.routes import Access, RouteSpec
from monitor.ingest.errors import IngestError, MalformedReportError
from monitor.ingest.kinds import IngestContext, IngestKind
from monitor.model.privacy import PrivacyError
from monitor.store import StoreUnavailableError

__all__ = ["kind_route"]

log = logging.getLogger(__name__)


def kind_route(
    kind: IngestKind,
    path: str,
    *,
    content_types: frozenset[str],
    refused_status: Callable[[IngestError], int] = lambda _exc: 422,
) -> RouteSpec:
    """The POST route that ingests one message or document of ``kind``."""

    async def handler(request: web.Request) -> web.Response:
        context = request.app[KEY_CONTEXT]
        settings = context.settings()
        if request.content_type not in content_types:
            allowed = ", ".join(sorted(content_types))
            return json_error(415, f"Content-Type must be one of: {allowed}")
        raw = await request.read()  # over max_body_bytes: 413 (error middleware)
        ingest = IngestContext(
            store=context.store,
            pseudonymizer=context.pseudonymizer,
            campaign_headers=tuple(settings.config.feedback.campaign_headers),
            store_raw=settings.config.privacy.store_raw,
            now=context.clock(),
        )
        try:
            if not raw.strip():
                raise MalformedReportError("empty", "the body is empty")
            outcome = await kind.ingest(raw, ingest)
        except PrivacyError:
            return _refuse(kind, MalformedReportError("invalid_recipient", "unusable address"), 400)
        except IngestError as exc:
            return _refuse(kind, exc, refused_status(exc))
        except StoreUnavailableError:
            return store_unavailable(request, kind.name)
        fields = {name: outcome.fields.get(name) for name in kind.fields}
        body = {"id": outcome.id, "duplicate": outcome.duplicate, **fields}
        return web.json_response(body, status=202)

    return RouteSpec("POST", path, handler, Access.INGEST, source=kind.name)


def _refuse(kind: IngestKind, exc: IngestError, status: int) -> web.Response:
    log.warning("%s refused: %s", kind.name, exc.reason)
    return json_error(status, exc.message, reason=exc.reason)
