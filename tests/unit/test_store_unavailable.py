"""Which driver failures are "the store is unavailable" (503: retry later), not a bug (500).

asyncpg's "cannot switch to state ..., another operation is in progress" comes from a
pooled connection that a PostgreSQL shutdown left half-way through an operation. An
outside review saw it under eight concurrent writers in two of six server stops; a test
cannot make that race happen on demand, so the exception chain is built here as
SQLAlchemy's asyncpg dialect raises it (the one stand-in of this file).
"""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy.exc

from monitor.store.engine import is_unavailable, unavailable_on_failure
from monitor.store.errors import StoreUnavailableError


def _wrapped(inner: BaseException) -> sqlalchemy.exc.InternalError:
    try:
        try:
            raise inner
        except BaseException as cause:
            raise sqlalchemy.exc.InternalError("INSERT ...", {}, cause) from cause
    except sqlalchemy.exc.InternalError as outer:
        return outer


def test_a_connection_a_shutdown_left_half_way_is_unavailable() -> None:
    broken = _wrapped(
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )
    )
    assert is_unavailable(broken)
    with pytest.raises(StoreUnavailableError), unavailable_on_failure():
        raise broken


def test_another_internal_error_is_not_taken_for_an_outage() -> None:
    other = _wrapped(ValueError("a bug of ours"))
    assert not is_unavailable(other)
    with pytest.raises(sqlalchemy.exc.InternalError), unavailable_on_failure():
        raise other
