"""Log formatting keeps structured context, but never aiohttp's unredacted access extras."""

from __future__ import annotations

import json
import logging

import pytest

from monitor.daemon.logs import JsonFormatter, TextFormatter


def record(name: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.INFO, __file__, 1, "hello %s", ("world",), None)
    rec.__dict__.update(extra)
    return rec


def test_text_keeps_context_as_key_values() -> None:
    text = TextFormatter().format(record("monitor.daemon.app", zone="zen.example", n=3))
    assert text == "INFO monitor.daemon.app hello world zone=zen.example n=3"


def test_json_is_one_object_with_the_context() -> None:
    doc = json.loads(JsonFormatter().format(record("monitor.daemon.app", target="192.0.2.1")))
    assert doc["message"] == "hello world"
    assert doc["target"] == "192.0.2.1"
    assert doc["level"] == "INFO"


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_access_log_extras_are_dropped(formatter: logging.Formatter) -> None:
    # aiohttp passes the raw request line as an extra; only the redacted message may be logged
    rec = record(
        "aiohttp.access", first_request_line="GET /api/v1/subjects/alice%40example.com HTTP/1.1"
    )
    assert "alice" not in formatter.format(rec)
