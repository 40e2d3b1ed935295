"""Refusals of the ingestion parsers, each with a stable machine ``reason`` code.

MonitorError
└── IngestError              input an ingestion channel refuses (``reason`` is a stable code)
    ├── WrongKindError       readable input of another kind (HTTP 422; IMAP tries the next kind)
    │   └── NotArfError      well-formed mail that is not a feedback report
    └── MalformedReportError a report (or something claiming to be one) that cannot be read (400)

Messages are fixed prose chosen by the parser: they never quote the input, so no
e-mail address can leak through an exception's ``str()`` or ``repr()``.
"""

from __future__ import annotations

from monitor.model.errors import ReasonedError

__all__ = ["IngestError", "MalformedReportError", "NotArfError", "WrongKindError"]


class IngestError(ReasonedError):
    """Root of the ingestion refusals; ``reason`` is a stable code for metrics and tests."""


class WrongKindError(IngestError):
    """Readable input that is not of the kind this path takes (see monitor.ingest.kinds)."""


class NotArfError(WrongKindError):
    """Readable mail that is not a feedback report (a bounce, a plain message, ...)."""


class MalformedReportError(IngestError):
    """A report that cannot be parsed: empty, undecodable, or a broken feedback-report part."""
