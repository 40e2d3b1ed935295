"""Store URLs: which ones we accept and the async driver each one is opened with."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from monitor.store.errors import StoreUrlError

__all__ = ["async_url"]

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
_HINT = "use sqlite:///PATH or postgresql://USER@HOST/DB"


def async_url(url: str | URL) -> URL:
    """The URL with its async driver (aiosqlite, asyncpg).

    Raises:
        StoreUrlError: not parseable, another database or driver, or an
            in-memory SQLite database (it would not survive the process, so
            nothing acknowledged would be durable).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUrlError(f"store URL is not a database URL: {_HINT}") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise StoreUrlError(f"unsupported store URL scheme {parsed.drivername!r}: {_HINT}")
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise StoreUrlError(f"SQLite store needs a file path, not memory: {_HINT}")
    if driver.startswith("postgresql") and (given := parsed.query.get("timeout")) is not None:
        try:
            seconds = float(str(given))
        except ValueError:
            seconds = 0.0
        if not 0 < seconds < 3600:  # also refuses NaN
            raise StoreUrlError(
                f"store URL timeout is the seconds a connection attempt may take, not {given!r}"
            )
    return parsed.set(drivername=driver)
