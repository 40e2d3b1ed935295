"""Logging: plain text or one JSON object per line, with the ``extra`` context, and which
loggers speak at which level.

Handlers log structured context through ``extra={...}``; both formats keep it (text as
``key=value`` after the message, JSON as members next to the stable ``time``, ``level``,
``logger`` and ``message``). Callers never put an address or a secret in a log record.

At INFO (the daemon's default) the log shows what an operator acts on: start-up, the
config, each job's failures and recoveries, state changes and one summary line per
sweep and auth run. Libraries that narrate routine work at INFO (APScheduler's every
tick, aiohttp's every request, Alembic's migration context) are heard only at DEBUG.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
from typing import Literal, TextIO, get_args

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "LogFormat",
    "LogLevel",
    "LogSetup",
    "TextFormatter",
    "event_loop_name",
]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)

# Loggers that narrate routine work at INFO: every scheduler tick, every HTTP request,
# Alembic's plugin set-up at each start (alembic 1.17+). Shown only when the level is DEBUG.
_ROUTINE = ("apscheduler", "aiohttp.access", "alembic.runtime.plugins")
# Alembic says which database dialect it found at every start (routine), and which schema
# upgrade it runs (news, kept).
_MIGRATION_LOGGER = "alembic.runtime.migration"
# Libraries that log secrets or personal data at DEBUG: aioimaplib logs the IMAP LOGIN
# line and message bodies; aiosqlite logs every statement with its bound values (the
# stored rows: raw reports with store_raw, bounce texts, telemetry samples). They never
# log below WARNING, whatever the level says.
_NEVER_BELOW_WARNING = ("aioimaplib", "aiosqlite")

# Attributes every LogRecord has; anything else came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _context(record: logging.LogRecord) -> dict[str, object]:
    if record.name.startswith("aiohttp.access"):
        # aiohttp repeats the request line and headers as extras; the message is
        # already redacted (RedactingAccessLogger) and the extras are not.
        return {}
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name} {record.getMessage()}"
        context = _context(record)
        if context:
            text += " " + " ".join(f"{k}={_short(v)}" for k, v in context.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (RFC 3339, UTC), ``level``, ``logger``,
    ``message``, the context members, and ``exception`` (the traceback) when there is one.
    A context member never replaces one of the four stable keys."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            k: v
            for k, v in _context(record).items()
            if k not in ("time", "level", "logger", "message", "exception")
        }
        doc = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **doc,
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if " " in text else text


class LogSetup:
    """The process's log handler on the root logger, and the levels of the noisy libraries.

    ``level``/``fmt`` given here (the command line) win over what ``apply`` is later
    given (the config's ``[log]``, at start and on each reload); ``default_level`` is
    used when neither says.
    """

    def __init__(
        self,
        *,
        level: str | None = None,
        fmt: str | None = None,
        default_level: str = "WARNING",
        stream: TextIO | None = None,
    ) -> None:
        self._forced_level = _level(level) if level else None
        self._forced_format = _format(fmt) if fmt else None
        self._default_level = _level(default_level)
        self.handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        self.level = self._default_level
        self.format = "text"
        self._before: dict[str, int] | None = None  # levels before the first apply

    def install(self) -> LogSetup:
        """Replace the root logger's handlers with ours, at the command line's settings."""
        root = logging.getLogger()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(self.handler)
        self.apply()
        return self

    def apply(self, level: str | None = None, fmt: str | None = None) -> None:
        """Set the level and the format (the command line's, else these, else the defaults)."""
        if self._before is None:
            names = ("", *_ROUTINE, *_NEVER_BELOW_WARNING)
            self._before = {name: logging.getLogger(name).level for name in names}
        self.level = self._forced_level or (_level(level) if level else self._default_level)
        self.format = self._forced_format or (_format(fmt) if fmt else "text")
        self.handler.setFormatter(JsonFormatter() if self.format == "json" else TextFormatter())
        logging.getLogger().setLevel(self.level)
        routine = logging.NOTSET if self.level == "DEBUG" else logging.WARNING
        for name in _ROUTINE:
            logging.getLogger(name).setLevel(routine)
        migration = logging.getLogger(_MIGRATION_LOGGER)
        migration.removeFilter(_only_upgrades)
        if self.level != "DEBUG":
            migration.addFilter(_only_upgrades)
        for name in _NEVER_BELOW_WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)

    def remove(self) -> None:
        """Take our handler off and put back the levels and filter found before (tests)."""
        logging.getLogger().removeHandler(self.handler)
        logging.getLogger(_MIGRATION_LOGGER).removeFilter(_only_upgrades)
        for name, level in (self._before or {}).items():
            logging.getLogger(name).setLevel(level)
        self._before = None


def _only_upgrades(record: logging.LogRecord) -> bool:
    """Alembic's lines at INFO: the schema upgrades it runs, not its dialect notes."""
    return record.levelno > logging.INFO or str(record.msg).startswith("Running ")


def event_loop_name() -> str:
    """``uvloop`` or ``asyncio``: the package of the running event loop, for the log."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def _level(text: str) -> str:
    upper = text.strip().upper()
    if upper not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return upper


def _format(text: str) -> str:
    lower = text.strip().lower()
    if lower not in LOG_FORMATS:
        raise ValueError(f"log format must be text or json, got {text!r}")
    return lower
