"""Captured log records as the daemon would write them, in both of its formats."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from monitor.daemon.logs import JsonFormatter, TextFormatter


def in_both_formats(records: Iterable[logging.LogRecord]) -> str:
    """Every record formatted as text and as JSON (message, context and traceback)."""
    formatters = (TextFormatter(), JsonFormatter())
    return "\n".join(f.format(record) for record in records for f in formatters)
