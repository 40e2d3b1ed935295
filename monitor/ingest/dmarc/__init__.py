"""DMARC aggregate reports: ``parse_dmarc(raw)`` turns bytes (XML, gzip, zip or a report
e-mail) into a frozen ``AggregateReport``, or refuses them with a stable reason code.

Pure: no I/O beyond the bytes given. See ``containers`` (what carries the XML) and
``xmlreport`` (the streaming, hardened XML parse).
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.ingest.dmarc.containers import unwrap
from monitor.ingest.dmarc.model import (
    AggregateRecord,
    AggregateReport,
    AuthResult,
    Flavour,
    Limits,
    PolicyPublished,
    ReportMetadata,
    ReportRow,
    RowKey,
    RowSink,
)
from monitor.ingest.dmarc.xmlreport import parse_aggregate_xml

__all__ = [
    "DEFAULT_LIMITS",
    "AggregateRecord",
    "AggregateReport",
    "AuthResult",
    "Flavour",
    "Limits",
    "PolicyPublished",
    "ReportMetadata",
    "ReportRow",
    "RowKey",
    "RowSink",
    "parse_dmarc",
]

DEFAULT_LIMITS = Limits()


def parse_dmarc(
    raw: bytes,
    *,
    limits: Limits = DEFAULT_LIMITS,
    on_record: Callable[[AggregateRecord], None] | None = None,
    sink: RowSink | None = None,
) -> AggregateReport:
    """The aggregate report in ``raw``; ``on_record`` sees each ``<record>`` as it is read,
    ``sink`` takes the summed rows in batches as they are read (see ``RowSink``).

    Raises:
        MalformedReportError: a report that cannot be read or is refused as hostile
            (reason codes in docs/dmarc.md).
        NotDmarcError: readable mail or data that carries no aggregate report.
    """
    payload = unwrap(raw, limits)
    return parse_aggregate_xml(
        lambda: payload.chunks(limits),
        limits=limits,
        container=payload.container,
        on_record=on_record,
        sink=sink,
    )
