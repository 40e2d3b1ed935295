"""Errors leave as JSON ``{"error": "..."}`` with the right status; the process keeps running."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from monitor.model.jsontext import JsonRefused
from monitor.store.engine import is_unavailable
from monitor.store.errors import StoreUnavailableError

__all__ = [
    "CLIENT_ABORTED",
    "KEY_REFUSALS",
    "SKIPPED_ITEMS",
    "ClientFaultFilter",
    "RefusalLog",
    "error_middleware",
    "json_error",
    "quiet_client_faults",
    "redacted_path",
    "repeated_query",
    "store_unavailable",
]

# Set on the answer to a request whose client went away before it was read: the ingest
# counter counts it as client_aborted, not as a failure of the daemon.
CLIENT_ABORTED = web.ResponseKey("client_aborted", bool)
# Set on an accepted answer that skipped items of a batch it could not read (SendGrid):
# how many, for the ingest counter.
SKIPPED_ITEMS = web.ResponseKey("skipped_items", int)

log = logging.getLogger(__name__)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_PERSONAL_PREFIXES = ("/api/v1/subjects/", "/api/v1/suppressions/")


def redacted_path(path: str) -> str:
    """``path`` for a log line: the address in a subject's or suppression's path replaced
    (``path`` decoded, so an encoded prefix such as ``%73ubjects`` is caught too), and
    any other segment with an '@' (a near miss such as ``//api/v1/subjects/...`` or
    ``/api/v1/Subjects/...``, which answers 404, still names the person)."""
    prefix = next((p for p in _PERSONAL_PREFIXES if path.startswith(p)), None)
    if prefix is not None:
        return f"{prefix}redacted"
    if "@" not in path and "%40" not in path.lower():
        return path
    return "/".join(
        "redacted" if "@" in part or "%40" in part.lower() else part for part in path.split("/")
    )


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def repeated_query(request: web.Request, names: tuple[str, ...]) -> web.Response | None:
    """A 400 naming the first of ``names`` given more than once in the query string (which
    of two values was meant cannot be told), else None."""
    for name in names:
        if len(request.query.getall(name, [])) > 1:
            return json_error(400, f"{name} is given more than once")
    return None


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
    except RequestPayloadError:
        # A Content-Encoding that does not decode (a corrupt gzip body), a broken chunk.
        return json_error(400, "the body could not be read as sent", reason="bad_body")
    except StoreUnavailableError:
        return _store_unavailable(request)
    except ConnectionResetError:
        if request.transport is None or request.transport.is_closing():
            # The client went away mid-request: nothing was stored, no one to answer.
            log.info("client went away", extra={"path": redacted_path(request.path)})
            response = json_error(400, "client went away")
            response[CLIENT_ABORTED] = True
            return response
        return _store_unavailable(request)
    except Exception as exc:
        if is_unavailable(exc):  # a read the store could not answer: as for writes
            return _store_unavailable(request)
        # The boundary that keeps the daemon alive: log, answer 500, carry on.
        log.exception("unhandled error in %s %s", request.method, redacted_path(request.path))
        return json_error(500, "internal error")


def _store_unavailable(request: web.Request) -> web.Response:
    return store_unavailable(request, "request")


class RefusalLog:
    """ "Refused: store unavailable" said at WARNING once a minute, with how many more
    there were since; the others at DEBUG. An outage under load refuses every request:
    a line each (24,000 in a 40-second PostgreSQL stop) would bury the rest of the log."""

    def __init__(self, every: float = 60.0) -> None:
        self._every = every
        self._last: float | None = None
        self._quiet = 0

    def refused(self, what: str, path: str) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self._every:
            self._quiet += 1
            log.debug("%s refused: store unavailable", what, extra={"path": path})
            return
        log.warning(
            "%s refused: store unavailable (%d more refused since the last such line)",
            what,
            self._quiet,
            extra={"path": path},
        )
        self._last, self._quiet = now, 0


KEY_REFUSALS = web.AppKey("store_refusals", RefusalLog)


class RepeatedWarning:
    """A WARNING said once a minute per key (a webhook's provider and reason), with how
    many repeats were held back since; the repeats at DEBUG. A stranger posting unsigned
    bodies in a loop, or a sender with a wrong key, would otherwise write a line each."""

    def __init__(self, logger: logging.Logger, every: float = 60.0) -> None:
        self._log = logger
        self._every = every
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def warn(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._every:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            self._log.debug(message, *args)
            return
        quiet = self._quiet.pop(key, 0)
        if quiet:
            self._log.warning(message + " (%d more since the last such line)", *args, quiet)
        else:
            self._log.warning(message, *args)
        self._last[key] = now


def store_unavailable(request: web.Request, what: str) -> web.Response:
    """503: the store did not answer or refused the write; nothing was stored, retry later."""
    refusals = request.app.get(KEY_REFUSALS)
    if refusals is None:  # an app built without build_app
        log.warning("%s refused: store unavailable", what)
    else:
        refusals.refused(what, redacted_path(request.path))
    return json_error(503, "store unavailable, retry later")


_CLIENT_FAULTS = (HttpProcessingError, RequestPayloadError, ConnectionResetError, zlib.error)


class ClientFaultFilter(logging.Filter):
    """aiohttp's own log of a request its parser refused (a malformed header, a body that
    does not decode, a client gone) as one INFO line naming the error's type only.

    aiohttp logs these at ERROR with a traceback whose text quotes the raw header or
    request line: a bearer token with one bad byte, an address in a path, at the default
    level. The client's mistake is neither an error of the daemon nor a reason to log
    its bytes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        error: BaseException | None = record.exc_info[1]
        seen: list[BaseException] = []
        while error is not None and len(seen) < 8:
            seen.append(error)
            error = error.__cause__ or error.__context__
        fault = next((e for e in seen if isinstance(e, _CLIENT_FAULTS)), None)
        if fault is None:
            return True
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args = (
            "refused a request its client sent malformed (%s)",
            (type(fault).__name__,),
        )
        record.exc_info = record.exc_text = None
        return True


def quiet_client_faults() -> None:
    """Install ``ClientFaultFilter`` on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientFaultFilter) for f in logger.filters):
        logger.addFilter(ClientFaultFilter())


# Refused webhooks, said once a minute per provider and reason (a few dozen keys at most).
KEY_WEBHOOK_REFUSALS = web.AppKey("webhook_refusals", RepeatedWarning)
