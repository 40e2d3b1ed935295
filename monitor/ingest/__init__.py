"""Ingestion: feedback reports (ARF, JMRP) and ESP webhooks into typed values and events.

Pure parsers live here; the HTTP routes, the CLI and the IMAP poller call them.
"""

from monitor.ingest.arf import FeedbackReport, FeedbackType, Headers, parse_arf
from monitor.ingest.attribution import attribute_campaign, provider_of
from monitor.ingest.audit import OriginalAudit, audit_original
from monitor.ingest.errors import IngestError, MalformedReportError, NotArfError

__all__ = [
    "FeedbackReport",
    "FeedbackType",
    "Headers",
    "IngestError",
    "MalformedReportError",
    "NotArfError",
    "OriginalAudit",
    "attribute_campaign",
    "audit_original",
    "parse_arf",
    "provider_of",
]
