"""``UtcDateTime`` on SQLite binds the text SQLAlchemy's ``DATETIME`` would, in one step."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy.dialects import sqlite

from monitor.store.schema import UtcDateTime, sqlite_datetime

DIALECT = sqlite.dialect()


def _reference(value: dt.datetime) -> str:
    """``process_bind_param`` and then SQLite's ``DATETIME`` bind processor."""
    naive = UtcDateTime().process_bind_param(value, DIALECT)
    process = sqlite.DATETIME().bind_processor(DIALECT)  # type: ignore[no-untyped-call]
    assert process is not None
    text = process(naive)
    assert isinstance(text, str)
    return text


def _samples() -> list[dt.datetime]:
    rng = random.Random(20261129)
    found = [
        dt.datetime(2026, 11, 29, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        dt.datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    ]
    for _ in range(2_000):
        zone = dt.timezone(dt.timedelta(minutes=rng.randint(-900, 900)))
        found.append(
            dt.datetime(
                rng.randint(2, 9998),
                rng.randint(1, 12),
                rng.randint(1, 28),
                rng.randint(0, 23),
                rng.randint(0, 59),
                rng.randint(0, 59),
                rng.choice([0, rng.randint(0, 999_999)]),
                tzinfo=rng.choice([dt.UTC, zone]),
            )
        )
    return found


def test_same_text_as_sqlalchemy_datetime() -> None:
    process = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert process is not None
    for value in _samples():
        assert sqlite_datetime(value) == _reference(value)
        assert process(value) == _reference(value)
    assert process(None) is None


def test_same_instant_in_another_zone_same_text() -> None:
    utc = dt.datetime(2026, 11, 29, 1, 0, tzinfo=dt.UTC)
    assert sqlite_datetime(utc.astimezone(dt.timezone(dt.timedelta(hours=-7)))) == (
        "2026-11-29 01:00:00.000000"
    )
    assert sqlite_datetime(utc) == "2026-11-29 01:00:00.000000"


def test_naive_refused() -> None:
    process = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert process is not None
    with pytest.raises(ValueError, match="naive datetime"):
        process(dt.datetime(2026, 11, 29))
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_datetime(dt.datetime(2026, 11, 29))
