"""Subject access, erasure and suppression look-ups (GDPR Art. 15, 17, 21).

- ``GET|DELETE /api/v1/subjects/{email}`` (admin token) → 200 export / erasure summary.
- ``GET /api/v1/suppressions/{email}`` (ingest or admin token) →
  200 ``{"suppressed", "reasons", "since"}``.

Subject routes never echo the address; the subject is named by a pseudonym prefix.
The address is in the path: run the app with ``access_log_class=RedactingAccessLogger``
so aiohttp's access log does not carry it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import cast

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from monitor.http.context import KEY_CONTEXT
from monitor.http.errors import json_error, redacted_path
from monitor.http.routes import Access, RouteSpec
from monitor.model.privacy import PrivacyError
from monitor.store.subject_documents import SUBJECT_PREFIX, erasure_document, export_document

__all__ = ["ROUTES", "RedactingAccessLogger"]

log = logging.getLogger(__name__)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _pseudonym(request: web.Request) -> str | None:
    """The subject's pseudonym, or None when the path holds no address (never echoed)."""
    try:
        return request.app[KEY_CONTEXT].pseudonymizer.pseudonym(request.match_info["email"])
    except PrivacyError:
        return None


async def _export_subject(request: web.Request) -> web.Response:
    deps = request.app[KEY_CONTEXT]
    pseudonym = _pseudonym(request)
    if pseudonym is None:
        return json_error(400, "not an e-mail address")
    export = await deps.store.export_subject(pseudonym, address=request.match_info["email"])
    log.info("subject exported", extra={"subject": pseudonym[:SUBJECT_PREFIX]})
    return web.json_response(export_document(export))


async def _erase_subject(request: web.Request) -> web.Response:
    deps = request.app[KEY_CONTEXT]
    pseudonym = _pseudonym(request)
    if pseudonym is None:
        return json_error(400, "not an e-mail address")
    result = await deps.store.erase_subject(pseudonym, address=request.match_info["email"])
    log.info(
        "subject erased",
        extra={
            "subject": pseudonym[:SUBJECT_PREFIX],
            "reports": result.reports,
            "events": result.events,
        },
    )
    return web.json_response(erasure_document(pseudonym, result))


async def _get_suppression(request: web.Request) -> web.Response:
    deps = request.app[KEY_CONTEXT]
    pseudonym = _pseudonym(request)
    if pseudonym is None:
        return json_error(400, "not an e-mail address")
    # The common answer (not suppressed) costs one indexed look-up; details only when needed.
    if not await deps.store.is_suppressed(pseudonym):
        return web.json_response({"suppressed": False, "reasons": [], "since": None})
    marks = (await deps.store.export_subject(pseudonym)).suppressions
    return web.json_response(
        {
            "suppressed": True,
            "reasons": sorted({m.reason.value for m in marks}),
            "since": _iso(min((m.first_at for m in marks), default=None)),
        }
    )


class _Shown:
    """The request as the access log shows it: its path redacted, never its query."""

    def __init__(self, request: BaseRequest, path: str) -> None:
        self._request = request
        self.path = self.path_qs = path

    def __getattr__(self, name: str) -> object:
        return getattr(self._request, name)


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access log, with the address in subject and suppression paths replaced
    and no query string (a token put there by mistake, though refused, is not logged).

    ``/api/v1/subjects/alice%40example.com`` is logged as ``/api/v1/subjects/redacted``;
    pass it as ``access_log_class`` to ``web.AppRunner`` (or ``web.run_app``). Its format
    has no Referer and no User-Agent (aiohttp's default logs both verbatim: a referring
    page's ``?email=`` or a token a client put there would reach the log).
    """

    FORMAT = '%a %t "%r" %s %b %Tf'

    def __init__(self, logger: logging.Logger, log_format: str = FORMAT) -> None:
        super().__init__(logger, self.FORMAT)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        # request.path is decoded, so an encoded prefix (%73ubjects) is caught too.
        shown = redacted_path(request.path)
        super().log(cast(BaseRequest, _Shown(request, shown)), response, time)


ROUTES = (
    RouteSpec("GET", "/api/v1/subjects/{email}", _export_subject, Access.ADMIN, query=()),
    RouteSpec("DELETE", "/api/v1/subjects/{email}", _erase_subject, Access.ADMIN, query=()),
    RouteSpec("GET", "/api/v1/suppressions/{email}", _get_suppression, Access.READ, query=()),
)
