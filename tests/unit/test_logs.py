"""Log formatting keeps structured context, but never aiohttp's unredacted access extras;
the command line, the config's [log] and the defaults decide the level and the format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.daemon.logs import JsonFormatter, LogSetup, TextFormatter


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


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = (
        "",
        "apscheduler",
        "aiohttp.access",
        "alembic.runtime.migration",
        "aioimaplib",
        "aiosqlite",
    )
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_the_command_line_wins_over_the_config_and_the_config_over_the_default() -> None:
    forced = LogSetup(level="debug", fmt="json", default_level="INFO", stream=io.StringIO())
    forced.apply("ERROR", "text")
    assert (forced.level, forced.format) == ("DEBUG", "json")
    assert isinstance(forced.handler.formatter, JsonFormatter)
    free = LogSetup(default_level="INFO", stream=io.StringIO())
    free.apply(None, None)
    assert (free.level, free.format, logging.getLogger().level) == ("INFO", "text", logging.INFO)
    free.apply("ERROR", "json")
    assert (free.level, free.format, logging.getLogger().level) == ("ERROR", "json", logging.ERROR)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("level", "ticks_shown"), [("INFO", False), ("WARNING", False), ("DEBUG", True)]
)
def test_scheduler_ticks_and_requests_are_heard_only_at_debug(
    level: str, ticks_shown: bool
) -> None:
    LogSetup(stream=io.StringIO()).apply(level)
    for name in ("apscheduler.executors.default", "aiohttp.access"):
        assert logging.getLogger(name).isEnabledFor(logging.INFO) is ticks_shown
    assert not logging.getLogger("aioimaplib").isEnabledFor(logging.INFO)  # never: it logs secrets
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.INFO)  # never: stored rows


@pytest.mark.usefixtures("restore_logging")
def test_alembic_keeps_its_upgrade_lines_and_drops_its_dialect_notes() -> None:
    stream = io.StringIO()
    setup = LogSetup(default_level="INFO", stream=stream).install()
    try:
        migration = logging.getLogger("alembic.runtime.migration")
        migration.info("Context impl SQLiteImpl.")
        migration.info("Will assume non-transactional DDL.")
        migration.info("Running upgrade 0001 -> 0002, the daemon's memory")
    finally:
        setup.remove()
    assert stream.getvalue().splitlines() == [
        "INFO alembic.runtime.migration Running upgrade 0001 -> 0002, the daemon's memory"
    ]


def test_json_context_never_replaces_a_stable_key() -> None:
    doc = json.loads(JsonFormatter().format(record("monitor.x", message="forged", level="X")))
    assert (doc["message"], doc["level"], doc["logger"]) == ("hello world", "INFO", "monitor.x")


def test_a_bad_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        LogSetup(level="LOUD")
    with pytest.raises(ValueError, match="log format"):
        LogSetup(fmt="xml")


def test_removing_the_setup_puts_the_levels_back() -> None:
    before = {n: logging.getLogger(n).level for n in ("", "apscheduler", "aiohttp.access")}
    setup = LogSetup(default_level="ERROR", stream=io.StringIO())
    setup.apply()
    assert logging.getLogger("aiohttp.access").level == logging.WARNING
    setup.remove()
    assert {n: logging.getLogger(n).level for n in before} == before


def test_every_migration_summary_is_one_log_line() -> None:
    """Alembic logs a revision's summary (its docstring's first paragraph) at INFO on
    upgrade; a summary over two lines is a log line without a level or logger."""
    from alembic.script import ScriptDirectory

    import monitor.store

    location = Path(monitor.store.__file__).parent / "migrations"
    scripts = list(ScriptDirectory(str(location)).walk_revisions())
    assert len(scripts) >= 7
    assert [s.revision for s in scripts if "\n" in s.doc] == []
