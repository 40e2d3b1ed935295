"""Streaming, hardened parse of DMARC aggregate XML into an ``AggregateReport``.

Expat is driven directly: a DOCTYPE (and so any entity or ATTLIST default) is refused
at once, and only one top-level section (``report_metadata``, ``policy_published`` or
one ``record``) is held as a small tree at a time. Records are summed by ``RowKey`` as
they end, so memory follows the number of distinct rows, not the size of the report.
Elements are matched by local name: RFC 7489, RFC 9990 (``urn:ietf:params:xml:ns:dmarc-2.0``)
and the pre-RFC drafts share one path. Refusals are ``MalformedReportError`` with the
reason codes listed in docs/dmarc.md.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from sys import intern
from xml.parsers import expat

from checks.domains import registered_domain
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
)
from monitor.ingest.errors import MalformedReportError

__all__ = ["NAMESPACE_9990", "parse_aggregate_xml"]

NAMESPACE_9990 = "urn:ietf:params:xml:ns:dmarc-2.0"
_SECTIONS = frozenset({"report_metadata", "policy_published", "record", "version"})
_RFC9990_POLICY = frozenset({"np", "testing", "discovery_method"})
_DISPOSITIONS = frozenset({"none", "quarantine", "reject", "pass"})
_VERDICTS = frozenset({"pass", "fail"})
_AUTH_RESULTS = frozenset(
    {"none", "pass", "fail", "softfail", "neutral", "policy", "temperror", "permerror"}
)
_ALIASES = {"unknown": "temperror", "error": "permerror"}
_MS_THRESHOLD = 100_000_000_000  # an epoch past year 5138 in seconds is milliseconds
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")

Chunks = Callable[[], Iterator[bytes]]


class _Node:
    __slots__ = ("children", "name", "text")

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = ""  # expat buffers text: one piece per element, most of the time
        self.children: list[_Node] = []

    def value(self) -> str:
        return self.text.strip()

    def child(self, name: str) -> _Node | None:
        for node in self.children:
            if node.name == name:
                return node
        return None

    def get(self, name: str) -> str | None:
        for node in self.children:
            if node.name == name:
                return node.text.strip() or None
        return None

    def all(self, name: str) -> list[_Node]:
        return [node for node in self.children if node.name == name]


def _refuse(reason: str, message: str) -> MalformedReportError:
    return MalformedReportError(reason, message)


def _forbid_dtd(*_args: object) -> None:
    raise _refuse("doctype_forbidden", "a DOCTYPE or entity declaration (never needed by DMARC)")


class _Reader:
    """One pass of expat over the chunks: the sections as they end, summed at the end."""

    def __init__(self, limits: Limits, on_record: Callable[[AggregateRecord], None] | None):
        self.limits = limits
        self.max_text = limits.max_text
        self.max_depth = limits.max_depth
        self.max_elements = limits.max_section_elements
        self.on_record = on_record
        self.depth = 0
        self.root_seen = False
        self.namespace = ""
        self.stack: list[_Node] = []
        self.elements = 0
        self.version: str | None = None
        self.metadata_node: _Node | None = None
        self.policy_node: _Node | None = None
        self.records = 0
        self.messages = 0
        self.rows: dict[RowKey, list[int]] = {}
        self.warnings: set[str] = set()

    def parser(self) -> expat.XMLParserType:
        # No namespace processing: names arrive as written (local names under a default
        # namespace, "prefix:local" otherwise), and the root's xmlns is read as an attribute.
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.StartDoctypeDeclHandler = _forbid_dtd
        parser.EntityDeclHandler = _forbid_dtd
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data
        return parser

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise _refuse("too_deep", "elements nested deeper than the limit")
        stack = self.stack
        if stack:  # inside a section: the hot path, one call per element of a record
            self.elements += 1
            if self.elements > self.max_elements:
                raise _refuse("too_many_elements", "a section has more elements than the limit")
            node = _Node(name.rpartition(":")[2])
            stack[-1].children.append(node)
            stack.append(node)
            return
        local = name.rpartition(":")[2]
        if self.depth == 1:
            if local != "feedback":
                raise _refuse("not_dmarc_xml", "the root element is not <feedback>")
            self.root_seen = True
            prefix = name.partition(":")[0] if ":" in name else ""
            self.namespace = attrs.get(f"xmlns:{prefix}" if prefix else "xmlns", "")
        elif self.depth == 2 and local in _SECTIONS:
            self.elements = 0
            self.stack.append(_Node(local))

    def data(self, text: str) -> None:
        stack = self.stack
        if stack:
            node = stack[-1]
            node.text += text
            if len(node.text) > self.max_text:
                raise _refuse("text_too_long", "an element's text is longer than the limit")

    def end(self, _name: str) -> None:
        self.depth -= 1
        if not self.stack:
            return
        node = self.stack.pop()
        if self.stack:
            return
        if node.name == "record":
            self._record(node)
        elif node.name == "report_metadata":
            self.metadata_node = node
        elif node.name == "policy_published":
            self.policy_node = node
        else:
            self.version = node.value() or None

    def _record(self, node: _Node) -> None:
        record = _build_record(node, self.warnings)
        self.records += 1
        if self.records > self.limits.max_records:
            raise _refuse("too_many_records", "more <record> elements than the limit")
        self.messages += record.count
        if self.on_record is not None:
            self.on_record(record)
        key = _row_key(record)
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= self.limits.max_rows:
                raise _refuse("too_many_rows", "more distinct source rows than the limit")
            self.rows[key] = [record.count, 1]
        else:
            row[0] += record.count
            row[1] += 1

    def report(self, container: str) -> AggregateReport:
        if not self.root_seen:
            raise _refuse("not_dmarc_xml", "no <feedback> element")
        if self.metadata_node is None:
            raise _refuse("missing_field", "no <report_metadata>")
        if self.policy_node is None:
            raise _refuse("missing_field", "no <policy_published>")
        metadata = _build_metadata(self.metadata_node, self.warnings)
        policy = _build_policy(self.policy_node, self.warnings)
        rows = tuple(
            ReportRow(key, messages, records)
            for key, (messages, records) in sorted(self.rows.items())
        )
        return AggregateReport(
            flavour=self._flavour(metadata, self.policy_node),
            version=self.version,
            metadata=metadata,
            policy=policy,
            rows=rows,
            records=self.records,
            messages=self.messages,
            container=container,
            warnings=tuple(sorted(self.warnings)),
        )

    def _flavour(self, metadata: ReportMetadata, policy: _Node) -> Flavour:
        if (
            self.namespace == NAMESPACE_9990
            or metadata.generator is not None
            or any(policy.child(name) is not None for name in _RFC9990_POLICY)
        ):
            return Flavour.RFC9990
        return Flavour.RFC7489 if self.version is not None else Flavour.DRAFT


def parse_aggregate_xml(
    chunks: Chunks,
    *,
    limits: Limits,
    container: str = "xml",
    on_record: Callable[[AggregateRecord], None] | None = None,
) -> AggregateReport:
    """Parse the XML that ``chunks()`` yields (it may be called twice; see below).

    A document that declares no encoding (or UTF-8) but holds invalid UTF-8 is read a
    second time with the bad bytes replaced (warning ``invalid_utf8``), as receivers
    do send such reports.

    Raises:
        MalformedReportError: not well-formed, a DOCTYPE, over a limit, not a report.
    """
    try:
        return _parse_once(chunks(), limits, container, on_record)
    except expat.ExpatError as exc:
        if exc.code != expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]:
            raise _malformed(exc) from None
        first = exc
    replaced = _Replaced(chunks())
    if not replaced.utf8:
        raise _malformed(first) from None
    try:
        report = _parse_once(iter(replaced), limits, container, on_record)
    except expat.ExpatError:
        raise _malformed(first) from None
    if not replaced.count:
        raise _malformed(first)
    return _with_warning(report, "invalid_utf8")


def _parse_once(
    chunks: Iterator[bytes],
    limits: Limits,
    container: str,
    on_record: Callable[[AggregateRecord], None] | None,
) -> AggregateReport:
    reader = _Reader(limits, on_record)
    parser = reader.parser()
    first = True
    for chunk in chunks:
        if first:
            chunk = _strip_start(chunk)
            if not chunk:
                continue
            first = False
        parser.Parse(chunk, False)
    if first:
        raise _refuse("empty", "no XML in the report")
    parser.Parse(b"", True)
    return reader.report(container)


def _strip_start(chunk: bytes) -> bytes:
    """A UTF-8 BOM and whitespace before the first tag (expat refuses whitespace there)."""
    return chunk.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")


class _Replaced:
    """The chunks again as UTF-8 with undecodable bytes replaced, counting replacements."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.count = 0
        self.head = next(chunks, b"")
        declared = _DECLARED.match(_strip_start(self.head[:512]))
        self.utf8 = declared is None or declared.group(1).lower() in {b"utf-8", b"utf8"}

    def __iter__(self) -> Iterator[bytes]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for chunk in (self.head, *self.chunks):
            text = decoder.decode(chunk)
            self.count += text.count("\ufffd")
            yield text.encode()
        tail = decoder.decode(b"", final=True)
        self.count += tail.count("\ufffd")
        yield tail.encode()


def _malformed(exc: expat.ExpatError) -> MalformedReportError:
    return _refuse("xml_malformed", f"not well-formed XML (line {exc.lineno})")


def _with_warning(report: AggregateReport, warning: str) -> AggregateReport:
    from dataclasses import replace

    return replace(report, warnings=tuple(sorted({*report.warnings, warning})))


# --- sections ----------------------------------------------------------------------


def _token(value: str | None, known: frozenset[str], warnings: set[str], what: str) -> str | None:
    if value is None:
        return None
    token = value.strip().lower()
    token = _ALIASES.get(token, token)
    if token and token not in known:
        warnings.add(f"unknown_{what}")
    return token or None


def _epoch(value: str | None, what: str) -> int:
    if value is None:
        raise _refuse("missing_field", f"no date_range {what}")
    try:
        number = int(float(value))
    except ValueError:
        raise _refuse("bad_date", f"date_range {what} is not a number") from None
    return number // 1000 if number > _MS_THRESHOLD else number


def _when(epoch: int) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise _refuse("bad_date", "date_range outside the representable range") from None


def _build_metadata(node: _Node, warnings: set[str]) -> ReportMetadata:
    email = node.get("email") or ""
    org_name = node.get("org_name") or email.rpartition("@")[2]
    report_id = node.get("report_id")
    if not org_name:
        raise _refuse("missing_field", "no org_name and no email")
    if not report_id:
        raise _refuse("missing_field", "no report_id")
    dates = node.child("date_range")
    if dates is None:
        raise _refuse("missing_field", "no date_range")
    begin, end = _epoch(dates.get("begin"), "begin"), _epoch(dates.get("end"), "end")
    if begin > end:
        begin, end = end, begin
        warnings.add("date_range_swapped")
    return ReportMetadata(
        org_name=org_name,
        email=email,
        extra_contact_info=node.get("extra_contact_info"),
        report_id=report_id,
        begin=_when(begin),
        end=_when(end),
        errors=tuple(e.value() for e in node.all("error") if e.value()),
        generator=node.get("generator"),
    )


def _build_policy(node: _Node, warnings: set[str]) -> PolicyPublished:
    domain = (node.get("domain") or "").lower().rstrip(".")
    if not domain:
        raise _refuse("missing_field", "no policy_published domain")
    pct = node.get("pct")
    disposition = _DISPOSITIONS - {"pass"}
    return PolicyPublished(
        domain=domain,
        adkim=_lower(node.get("adkim")),
        aspf=_lower(node.get("aspf")),
        p=_token(node.get("p"), disposition, warnings, "policy"),
        sp=_token(node.get("sp"), disposition, warnings, "policy"),
        np=_token(node.get("np"), disposition, warnings, "policy"),
        pct=int(pct) if pct is not None and pct.isdigit() else None,
        fo=node.get("fo"),
        testing=_lower(node.get("testing")),
        discovery_method=_lower(node.get("discovery_method")),
    )


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _build_record(node: _Node, warnings: set[str]) -> AggregateRecord:
    row = node.child("row") or _Node("row")
    source_ip = _source_ip(row.get("source_ip") or "")
    count_text = row.get("count") or ""
    if not count_text.isdigit():
        raise _refuse("bad_count", "a record's count is not a non-negative integer")
    evaluated = row.child("policy_evaluated") or _Node("policy_evaluated")
    disposition = _token(evaluated.get("disposition"), _DISPOSITIONS, warnings, "disposition")
    identifiers = node.child("identifiers") or node.child("identities") or _Node("identifiers")
    auth = node.child("auth_results") or _Node("auth_results")
    return AggregateRecord(
        source_ip=source_ip,
        count=int(count_text),
        disposition=disposition or "none",
        dkim=_token(evaluated.get("dkim"), _VERDICTS, warnings, "verdict"),
        spf=_token(evaluated.get("spf"), _VERDICTS, warnings, "verdict"),
        reasons=tuple(
            ((reason.get("type") or "").lower(), reason.get("comment"))
            for reason in evaluated.all("reason")
        ),
        envelope_to=_lower(identifiers.get("envelope_to")),
        envelope_from=_lower(identifiers.get("envelope_from")),
        header_from=(identifiers.get("header_from") or "").lower(),
        dkim_results=tuple(_auth(n, warnings, dkim=True) for n in auth.all("dkim")),
        spf_results=tuple(_auth(n, warnings, dkim=False) for n in auth.all("spf")),
    )


@functools.lru_cache(maxsize=4096)
def _source_ip(text: str) -> str:
    """The address in canonical form (cached: a report repeats its sources many times)."""
    try:
        return str(ipaddress.ip_address("".join(text.split())))
    except ValueError:
        raise _refuse("bad_source_ip", "a record's source_ip is not an IP address") from None


def _auth(node: _Node, warnings: set[str], *, dkim: bool) -> AuthResult:
    return AuthResult(
        domain=(node.get("domain") or "").lower(),
        result=_token(node.get("result"), _AUTH_RESULTS, warnings, "result") or "none",
        selector=node.get("selector") if dkim else None,
        scope=None if dkim else _lower(node.get("scope")),
        human_result=node.get("human_result"),
    )


@functools.lru_cache(maxsize=4096)
def _org(domain: str) -> str:
    return registered_domain(domain) or domain if domain else ""


def _aligned(domain: str, header_from: str) -> bool:
    return bool(domain) and _org(domain) == _org(header_from)


def _speaking_dkim(record: AggregateRecord) -> AuthResult | None:
    """The DKIM result that speaks for the record: an aligned pass, else a pass, else the first."""
    results = record.dkim_results
    for result in results:
        if result.result == "pass" and _aligned(result.domain, record.header_from):
            return result
    for result in results:
        if result.result == "pass":
            return result
    return results[0] if results else None


def _row_key(record: AggregateRecord) -> RowKey:
    # The keys are kept until the report ends and their strings repeat across rows
    # (domains, selectors, results): interned, a row costs its key's slots, not ten strings.
    dkim = _speaking_dkim(record)
    spf = record.spf_results[0] if record.spf_results else None
    return RowKey(
        source_ip=intern(record.source_ip),
        header_from=intern(record.header_from),
        disposition=intern(record.disposition),
        dkim=intern(record.dkim or ""),
        spf=intern(record.spf or ""),
        dkim_domain=intern(dkim.domain) if dkim else "",
        dkim_selector=intern(dkim.selector or "") if dkim else "",
        dkim_result=intern(dkim.result) if dkim else "",
        spf_domain=intern(spf.domain) if spf else "",
        spf_result=intern(spf.result) if spf else "",
    )


def iter_chunks(data: bytes, size: int = 256 * 1024) -> Iterable[bytes]:
    """``data`` in slices (views would keep the whole buffer alive anyway)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
