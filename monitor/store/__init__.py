"""The store: campaigns, hourly counters, pseudonymised reports and events, suppressions.

``open_store(url)`` (SQLite file or PostgreSQL) runs the migrations and returns
a ``SqlStore``; the daemon depends on the ``Store`` protocol.
"""

from monitor.store.errors import StoreError, StoreUnavailableError, StoreUrlError
from monitor.store.models import (
    AddResult,
    Campaign,
    EraseResult,
    EventView,
    PurgeResult,
    ReportAudit,
    ReportRecord,
    ReportResult,
    ReportView,
    Store,
    SubjectExport,
    SuppressionReason,
    SuppressionView,
    WindowRates,
)
from monitor.store.rates import CountRow, RateRow, Rates, Totals, VolumeGuard, Window
from monitor.store.store import SqlStore, open_store

__all__ = [
    "AddResult",
    "Campaign",
    "CountRow",
    "EraseResult",
    "EventView",
    "PurgeResult",
    "RateRow",
    "Rates",
    "ReportAudit",
    "ReportRecord",
    "ReportResult",
    "ReportView",
    "SqlStore",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "StoreUrlError",
    "SubjectExport",
    "SuppressionReason",
    "SuppressionView",
    "Totals",
    "VolumeGuard",
    "Window",
    "WindowRates",
    "open_store",
]
