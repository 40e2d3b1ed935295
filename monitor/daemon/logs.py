"""Log formatting: plain text or one JSON object per line, with the ``extra`` context.

Handlers log structured context through ``extra={...}``; both formats keep it
(text as ``key=value`` after the message). Callers never put an address or a
secret in a log record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

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
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if " " in text else text


def configure_logging(level: str, fmt: str = "text", quiet: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
