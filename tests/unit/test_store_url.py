"""Store URLs: SQLite files and PostgreSQL get their async drivers; anything else is refused
clearly, without echoing a password."""

from __future__ import annotations

import pytest

from monitor.store.errors import StoreUrlError
from monitor.store.url import async_url


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///var/lib/delivermon.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:////abs/delivermon.db", "sqlite+aiosqlite"),
        ("postgresql://u:pw@db/delivermon", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@db:5433/delivermon", "postgresql+asyncpg"),
        ("postgres://u@db/delivermon", "postgresql+asyncpg"),
    ],
)
def test_supported_urls_get_async_drivers(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:s3cret@db/x",
        "postgresql+psycopg2://u:s3cret@db/x",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url s3cret",
    ],
)
def test_other_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(StoreUrlError, match="sqlite:///PATH") as info:
        async_url(url)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("timeout", ["x", "0", "-1", "nan", "inf", "1e9"])
def test_a_postgres_timeout_that_is_not_seconds_is_refused(timeout: str) -> None:
    with pytest.raises(StoreUrlError, match="seconds a connection attempt may take"):
        async_url(f"postgresql://u:s3cret@db/x?timeout={timeout}")


def test_a_postgres_timeout_in_seconds_is_kept() -> None:
    assert async_url("postgresql://u@db/x?timeout=2.5").query["timeout"] == "2.5"
