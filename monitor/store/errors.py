"""Exceptions of the store.

StoreError (a MonitorError)
├── StoreUrlError          the URL names no supported database (sqlite, postgresql)
└── StoreUnavailableError  the database cannot be reached or answered with an error
"""

from __future__ import annotations

from monitor.model.errors import MonitorError

__all__ = ["StoreError", "StoreUnavailableError", "StoreUrlError"]


class StoreError(MonitorError):
    """Root of the store's exceptions."""


class StoreUrlError(StoreError):
    """``[store] url`` is not ``sqlite:///PATH`` or ``postgresql://...``; no password shown."""


class StoreUnavailableError(StoreError):
    """The database did not answer (readiness fails); the message carries no password."""
