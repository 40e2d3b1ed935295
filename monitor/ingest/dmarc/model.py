"""The typed values of a DMARC aggregate report (RFC 7489 appendix C, RFC 9990, pre-RFC drafts).

Enumerated values are normalised (``strip().lower()``, ``unknown`` -> ``temperror``,
``error`` -> ``permerror``); a token outside the union of the schemas is kept as read
and noted in ``warnings``, never refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol

__all__ = [
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
]


class Flavour(StrEnum):
    """Which schema the report follows (told by namespace and elements, not by version)."""

    RFC9990 = "rfc9990"  # the dmarc-2.0 namespace, or np/testing/discovery_method/generator
    RFC7489 = "rfc7489"  # <version> present, no RFC 9990 element
    DRAFT = "draft"  # no <version>: the pre-RFC layout most receivers still send


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one report may cost; over any of them the report is refused."""

    max_input_bytes: int = 64 * 1024 * 1024  # a file, a mail or an HTTP body
    max_xml_bytes: int = 256 * 1024 * 1024  # decompressed XML
    max_ratio: int = 200  # decompressed / compressed, checked past 1 MiB of output
    max_records: int = 2_000_000
    max_rows: int = 200_000  # distinct (source, result) rows kept in memory
    # With a ``RowSink``: distinct rows held before they are handed over to it.
    hand_over_rows: int = 4_096
    max_depth: int = 16
    max_section_elements: int = 2_000  # elements inside one <record> or metadata block
    max_text: int = 64 * 1024  # characters of one element's text
    max_mime_parts: int = 64
    max_zip_members: int = 8


@dataclass(frozen=True, slots=True)
class ReportMetadata:
    org_name: str
    email: str
    extra_contact_info: str | None
    report_id: str
    begin: dt.datetime
    end: dt.datetime
    errors: tuple[str, ...]
    generator: str | None


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    domain: str
    adkim: str | None
    aspf: str | None
    p: str | None
    sp: str | None
    np: str | None
    pct: int | None
    fo: str | None
    testing: str | None
    discovery_method: str | None


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One ``auth_results`` entry: DKIM (with selector) or SPF (with scope)."""

    domain: str
    result: str
    selector: str | None = None  # DKIM
    scope: str | None = None  # SPF
    human_result: str | None = None


@dataclass(frozen=True, slots=True)
class AggregateRecord:
    """One ``<record>`` as read, handed to ``on_record`` while streaming (not kept)."""

    source_ip: str
    count: int
    disposition: str
    dkim: str | None  # policy_evaluated: the DMARC-aligned DKIM verdict
    spf: str | None
    reasons: tuple[tuple[str, str | None], ...]
    envelope_to: str | None
    envelope_from: str | None
    header_from: str
    dkim_results: tuple[AuthResult, ...]
    spf_results: tuple[AuthResult, ...]


class RowKey(NamedTuple):
    """What a stored row is grouped by: records with the same key are summed.

    A tuple, so the parser sums rows in a dict looked up by plain tuples (hashed and
    compared in C) whose keys are already these, with nothing to convert at the end.
    """

    source_ip: str
    header_from: str
    disposition: str
    dkim: str  # policy_evaluated dkim: pass | fail | "" when absent
    spf: str
    dkim_domain: str  # the DKIM result that speaks for the record (an aligned pass first)
    dkim_selector: str
    dkim_result: str
    spf_domain: str
    spf_result: str


class ReportRow(NamedTuple):
    """A row's sums (a tuple: made by the thousand and left alone by the collector)."""

    key: RowKey
    messages: int
    records: int


@dataclass(frozen=True, slots=True)
class AggregateReport:
    """A parsed aggregate report: metadata, policy and its records summed by ``RowKey``.

    ``records`` counts ``<record>`` elements, ``messages`` the sum of their counts.
    """

    flavour: Flavour
    version: str | None
    metadata: ReportMetadata
    policy: PolicyPublished
    rows: tuple[ReportRow, ...]
    records: int
    messages: int
    container: str  # xml | gzip | zip | mail+gzip | ...
    warnings: tuple[str, ...] = field(default=())
    # Rows handed over to a ``RowSink`` during the parse (then ``rows`` holds the rest,
    # and a row may have been handed over in several parts: sum them by key).
    handed_over: int = 0

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        """(reporting org, report id, policy domain): a re-sent report has the same key."""
        return (
            self.metadata.org_name.strip().casefold(),
            self.metadata.report_id,
            self.policy.domain,
        )


class RowSink(Protocol):
    """Takes a report's summed rows while it is parsed, so memory does not follow the
    number of distinct rows (``parse_dmarc(raw, sink=...)``).

    ``rows`` is called with at most ``Limits.hand_over_rows`` rows at a time, once the
    policy is known; the same key may come again in a later batch (its sums go on).
    ``restart`` is called when the parse starts over (a second read of invalid UTF-8):
    what was handed over until then is to be forgotten. Either may raise to stop the
    parse; the exception comes out of ``parse_dmarc`` as it is.
    """

    def rows(self, policy: PolicyPublished, rows: list[ReportRow]) -> None: ...

    def restart(self) -> None: ...
