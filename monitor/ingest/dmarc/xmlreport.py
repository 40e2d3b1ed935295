"""Streaming, hardened parse of DMARC aggregate XML into an ``AggregateReport``.

libxml2 (lxml's pull parser) builds the tree in C from the decompressed chunks, with
entities, DTDs and the network off; expat reads the prolog first, so a DOCTYPE (and so
any entity or ATTLIST declaration) is refused before libxml2 sees the root, and a root
other than ``<feedback>`` at once. Each top-level section (``report_metadata``,
``policy_published``, ``version``, each ``record``) is read as it ends and deleted, so
the tree holds about 64 KiB of XML's sections at a time; records are summed by
``RowKey``, and with a ``RowSink`` the rows summed so far are handed over each time there
are ``Limits.hand_over_rows`` of them, so memory follows neither the size of the report
nor its number of distinct rows.
After every 64 KiB fed the limits (depth, elements per section, text length) are
checked by XPath over what it added. Elements are matched by local name: RFC 7489, RFC 9990
(``urn:ietf:params:xml:ns:dmarc-2.0``) and the pre-RFC drafts share one path. Refusals
are ``MalformedReportError`` with the reason codes listed in docs/dmarc.md.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from sys import intern
from typing import NamedTuple, NoReturn, cast
from xml.parsers import expat

from lxml import etree

from checks.domains import DomainError, registered_domain, to_a_label
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
from monitor.ingest.errors import MalformedReportError

__all__ = ["MAX_COUNT", "MAX_IDENTIFIER", "NAMESPACE_9990", "parse_aggregate_xml"]

NAMESPACE_9990 = "urn:ietf:params:xml:ns:dmarc-2.0"
_SECTIONS = frozenset({"report_metadata", "policy_published", "record", "version"})
_RFC9990_POLICY = frozenset({"np", "testing", "discovery_method"})
_DISPOSITIONS = frozenset({"none", "quarantine", "reject", "pass"})
_VERDICTS = frozenset({"pass", "fail"})
_AUTH_RESULTS = frozenset(
    {"none", "pass", "fail", "softfail", "neutral", "policy", "temperror", "permerror"}
)
_ALIASES = {"unknown": "temperror", "error": "permerror"}
# A record's count above this (about 10^12 messages from one source) is refused: with at
# most Limits.max_records records, a report's sum stays far below 2^63.
MAX_COUNT = 2**40
# org_name and report_id (with the policy domain, the report's identity) longer than this
# are refused: the store keeps this many characters of them.
MAX_IDENTIFIER = 255
_MAX_DOMAIN = 253  # RFC 1035: a domain name's presentation form, without the final dot
_COUNT_DIGITS = 24  # longer digit strings (leading zeros aside) are not read at all
_MS_THRESHOLD = 100_000_000_000  # an epoch past year 5138 in seconds is milliseconds
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# The elements the pull parser reports (start and end), in any namespace or none.
_EVENT_TAGS = tuple(f"{{*}}{name}" for name in ("feedback", *sorted(_SECTIONS)))
_IS_SECTION = " or ".join(f"local-name() = '{name}'" for name in sorted(_SECTIONS))
# libxml2's errors for a byte or character that may not be there: expat's INVALID_TOKEN.
_INVALID_CHAR = frozenset(
    {etree.ErrorTypes.ERR_INVALID_CHAR, etree.ErrorTypes.ERR_INVALID_ENCODING}
)

Chunks = Callable[[], Iterator[bytes]]
# Bytes per feed: the tree between two reads holds about this much XML's sections.
_FEED = 64 * 1024


class _Node:
    """A small section (metadata, policy) as plain values, read once its element ended."""

    __slots__ = ("children", "name", "text")

    def __init__(self, name: str, text: str = "", children: list[_Node] | None = None) -> None:
        self.name = name
        self.text = text
        self.children = children if children is not None else []

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


Element = etree._Element  # lxml names its element type privately


@functools.lru_cache(maxsize=1024)
def _local(tag: str) -> str:
    """``{namespace}name`` -> ``name`` (cached: a report repeats a few dozen tags)."""
    return tag.rpartition("}")[2]


def _text(element: Element) -> str:
    """The element's own text (between its children too), as expat handed it over."""
    text = element.text or ""
    if len(element):
        text += "".join(child.tail or "" for child in element)
    return text


def _node(element: Element) -> _Node:
    return _Node(_local(element.tag), _text(element), [_node(child) for child in element])


def _refuse(reason: str, message: str) -> MalformedReportError:
    return MalformedReportError(reason, message)


def _forbid_dtd(*_args: object) -> None:
    raise _refuse("doctype_forbidden", "a DOCTYPE or entity declaration (never needed by DMARC)")


class _RootSeen(Exception):  # noqa: N818 (a signal out of expat's handler, not an error)
    pass


class _Prolog:
    """expat over the bytes up to the root element's start tag, and no further.

    A DOCTYPE there (and so any entity or ATTLIST declaration) is refused before libxml2
    has the root, and a root other than ``<feedback>`` at once, as the expat parser did.
    """

    def __init__(self) -> None:
        self.done = False
        self.parser = expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = _forbid_dtd
        self.parser.EntityDeclHandler = _forbid_dtd
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartElementHandler = self._root

    @staticmethod
    def _root(name: str, _attrs: dict[str, str]) -> None:
        if name.rpartition(":")[2] != "feedback":
            raise _refuse("not_dmarc_xml", "the root element is not <feedback>")
        raise _RootSeen

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.Parse(chunk, False)
        except _RootSeen:
            self.done = True
        except (LookupError, ValueError):
            raise _unreadable_encoding() from None

    def close(self) -> None:
        if not self.done:
            try:
                self.parser.Parse(b"", True)  # raises: the document ended before any element
            except (LookupError, ValueError):
                raise _unreadable_encoding() from None
            raise _refuse("not_dmarc_xml", "no <feedback> element")


def _unreadable_encoding() -> MalformedReportError:
    """expat raises LookupError for an encoding declaration Python has no codec for, and
    ValueError for one whose codec is multi-byte (Shift_JIS, UTF-7: expat reads only
    UTF-8, UTF-16 and single-byte encodings)."""
    return _refuse(
        "xml_malformed",
        "not readable XML (an encoding other than UTF-8, UTF-16 or a single-byte one is declared)",
    )


@functools.lru_cache(maxsize=16)
def _guards(limits: Limits) -> tuple[tuple[etree.XPath, str, str], ...]:
    """XPath checks (compiled once per limits) over the tree the chunks have built so far."""
    sections = f"/*/*[{_IS_SECTION}]"
    return (
        (
            etree.XPath(f"boolean({'/*' * (limits.max_depth + 1)})"),
            "too_deep",
            "elements nested deeper than the limit",
        ),
        (
            etree.XPath(
                f"boolean({sections}[count(descendant::*) > {limits.max_section_elements}])"
            ),
            "too_many_elements",
            "a section has more elements than the limit",
        ),
        (
            etree.XPath(
                # A section's whole text first (one string per section), its text nodes
                # only when that is over the limit.
                f"boolean({sections}[string-length(.) > {limits.max_text}]"
                f"/descendant-or-self::*/text()[string-length(.) > {limits.max_text}])"
            ),
            "text_too_long",
            "an element's text is longer than the limit",
        ),
    )


def _resource_limit(exc: etree.XMLSyntaxError) -> MalformedReportError | None:
    """libxml2's own caps (depth 256, 10 MB of text) are above ours: the same refusal."""
    message = str(exc).lower()
    if "excessive depth" in message:
        return _refuse("too_deep", "elements nested deeper than the limit")
    if "text node too long" in message or "huge text node" in message:
        return _refuse("text_too_long", "an element's text is longer than the limit")
    return None


class _Reader:
    """One pass of libxml2 over the chunks: the sections as they end, summed at the end."""

    def __init__(
        self,
        limits: Limits,
        on_record: Callable[[AggregateRecord], None] | None,
        sink: RowSink | None = None,
    ):
        self.limits = limits
        self.sink = sink
        self.policy: PolicyPublished | None = None
        self.handed_over = 0
        self.guards = _guards(limits)
        self.on_record = on_record
        self.prolog = _Prolog()
        self.parser = etree.XMLPullParser(
            events=("start", "end"),
            tag=_EVENT_TAGS,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        self.root: Element | None = None
        self.namespace = ""
        self.version: str | None = None
        self.metadata_node: _Node | None = None
        self.policy_node: _Node | None = None
        self.records = 0
        self.messages = 0
        # Messages and records per row, in two dicts of ints: tuples of strings and ints
        # are left alone by the garbage collector once it has seen them, where a list of
        # sums per row is scanned by every collection for as long as it lives.
        self.rows: dict[RowKey, int] = {}  # tuples: hashed, compared and sorted in C
        self.row_records: dict[RowKey, int] = {}
        self.warnings: set[str] = set()

    def feed(self, chunk: bytes) -> None:
        if not self.prolog.done:
            self.prolog.feed(chunk)
        for start in range(0, len(chunk), _FEED):
            try:
                self.parser.feed(chunk[start : start + _FEED])
            except etree.XMLSyntaxError as exc:
                self._failed(exc)
            self._sections()

    def close(self) -> None:
        self.prolog.close()
        try:
            self.parser.close()
        except etree.XMLSyntaxError as exc:
            # The document ends inside an element (a cut file): libxml2 closes what was
            # open, and those ends are not the report's. A half record read as one was
            # refused as bad_source_ip or bad_count: the file is not well-formed.
            raise _resource_limit(exc) or exc from None
        self._sections(final=True)

    def _failed(self, exc: etree.XMLSyntaxError) -> NoReturn:
        """What came before the error is read first: expat refused in document order, so
        a limit or a bad record before the error is the reason, as it was."""
        self._sections()
        raise _resource_limit(exc) or exc

    def _sections(self, *, final: bool = False) -> None:
        """Check what the chunk added against the limits, read the sections that ended,
        and drop them (and anything else finished under the root)."""
        # Only element start and end events are asked for: each is (event, element).
        events = cast(list[tuple[str, Element]], list(self.parser.read_events()))
        root = self.root
        if root is None:
            if not events:
                return
            root = self._start(events[0][1])
        if len(root):  # emptied after the last chunk's sections: nothing new to check
            for guard, reason, message in self.guards:
                if guard(root):
                    raise _refuse(reason, message)
        ended = None
        for event, element in events:
            if event == "end" and element.getparent() is root:
                ended = element
                self._section(element)
        if final or (len(root) > 0 and root[-1] is ended):
            del root[:]
            return
        if len(root) > 1:
            del root[:-1]
        last = root[-1] if len(root) else None
        if last is not None and _local(last.tag) not in _SECTIONS:
            # An element DMARC does not define, still open: what of it ended is never read.
            while len(last):
                if len(last) > 1:
                    del last[:-1]
                last = last[-1]

    def _start(self, root: Element) -> Element:
        tree = root.getroottree()
        info = tree.docinfo
        if info.internalDTD is not None or info.externalDTD is not None or info.system_url:
            _forbid_dtd()  # the prolog refused it already; never read past one
        root = tree.getroot()
        if _local(root.tag) != "feedback":
            raise _refuse("not_dmarc_xml", "the root element is not <feedback>")
        self.root = root
        self.namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
        return root

    def _section(self, element: Element) -> None:
        name = _local(element.tag)
        if name == "record":
            self._record(element)
        elif name == "report_metadata":
            if self.metadata_node is not None:
                raise _refuse("duplicate_section", "more than one <report_metadata>")
            self.metadata_node = _node(element)
        elif name == "policy_published":
            if self.policy_node is not None:
                raise _refuse("duplicate_section", "more than one <policy_published>")
            self.policy_node = _node(element)
        else:
            self.version = _text(element).strip() or None

    def _record(self, element: Element) -> None:
        fields = _record_fields(element)
        key, count = _row_of(fields, self.warnings)
        self.records += 1
        if self.records > self.limits.max_records:
            raise _refuse("too_many_records", "more <record> elements than the limit")
        self.messages += count
        if self.on_record is not None:
            self.on_record(_record_of(fields, RowKey._make(key), count))
        rows = self.rows
        summed = rows.get(key)
        if summed is None:
            if len(rows) >= self.limits.max_rows:
                raise _refuse("too_many_rows", "more distinct source rows than the limit")
            # Kept until the report ends, their strings repeating across rows (domains,
            # selectors, results): interned, a row costs its key's slots, not ten strings.
            key = RowKey._make(map(intern, key))
            rows[key] = count
            self.row_records[key] = 1
            if len(rows) >= self.limits.hand_over_rows and self.sink is not None:
                self._hand_over(self.sink)
        else:
            rows[key] = summed + count
            self.row_records[key] += 1

    def _hand_over(self, sink: RowSink) -> None:
        """The rows summed so far to the sink, once the policy they are read against is
        known (a report that puts its records first keeps them until then)."""
        if self.policy_node is None:
            return
        if self.policy is None:
            self.policy = _build_policy(self.policy_node, self.warnings)
        summed, records = self.rows, self.row_records
        self.rows, self.row_records = {}, {}
        rows = [ReportRow(key, messages, records[key]) for key, messages in summed.items()]
        del summed, records
        self.handed_over += len(rows)
        sink.rows(self.policy, rows)

    def report(self, container: str) -> AggregateReport:
        if self.root is None:
            raise _refuse("not_dmarc_xml", "no <feedback> element")
        if self.metadata_node is None:
            raise _refuse("missing_field", "no <report_metadata>")
        if self.policy_node is None:
            raise _refuse("missing_field", "no <policy_published>")
        metadata = _build_metadata(self.metadata_node, self.warnings)
        policy = _build_policy(self.policy_node, self.warnings)
        # Each row's sums are let go as its ReportRow is made (and no (key, sums) pairs):
        # the largest report's rows are never held twice.
        summed, records = self.rows, self.row_records
        rows = tuple(ReportRow(key, summed.pop(key), records.pop(key)) for key in sorted(summed))
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
            handed_over=self.handed_over,
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
    sink: RowSink | None = None,
) -> AggregateReport:
    """Parse the XML that ``chunks()`` yields (it may be called twice; see below).

    With a ``sink``, rows are handed over to it in batches as they are read (``RowSink``)
    and the report's ``rows`` are what was left.

    A document that declares no encoding (or UTF-8) but holds invalid UTF-8 is read a
    second time with the bad bytes replaced (warning ``invalid_utf8``), as receivers
    do send such reports.

    Raises:
        MalformedReportError: not well-formed, a DOCTYPE, over a limit, not a report.
    """
    try:
        return _parse_once(chunks(), limits, container, on_record, sink)
    except (expat.ExpatError, etree.XMLSyntaxError) as exc:
        if not _invalid_char(exc):
            raise _malformed(exc) from None
        first = exc
    replaced = _Replaced(chunks())
    if not replaced.utf8:
        raise _malformed(first) from None
    if sink is not None:
        sink.restart()
    try:
        report = _parse_once(iter(replaced), limits, container, on_record, sink)
    except (expat.ExpatError, etree.XMLSyntaxError):
        raise _malformed(first) from None
    if not replaced.count:
        raise _malformed(first)
    return _with_warning(report, "invalid_utf8")


def _parse_once(
    chunks: Iterator[bytes],
    limits: Limits,
    container: str,
    on_record: Callable[[AggregateRecord], None] | None,
    sink: RowSink | None,
) -> AggregateReport:
    reader = _Reader(limits, on_record, sink)
    first = True
    for chunk in chunks:
        if first:
            chunk = _strip_start(chunk)
            if not chunk:
                continue
            first = False
        reader.feed(chunk)
    if first:
        raise _refuse("empty", "no XML in the report")
    reader.close()
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


def _invalid_char(exc: expat.ExpatError | etree.XMLSyntaxError) -> bool:
    if isinstance(exc, expat.ExpatError):
        return exc.code == expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]
    return exc.code in _INVALID_CHAR  # type: ignore[attr-defined]  # lxml-stubs 0.5 lacks it


def _malformed(exc: expat.ExpatError | etree.XMLSyntaxError) -> MalformedReportError:
    return _refuse("xml_malformed", f"not well-formed XML (line {exc.lineno})")


def _with_warning(report: AggregateReport, warning: str) -> AggregateReport:
    from dataclasses import replace

    return replace(report, warnings=tuple(sorted({*report.warnings, warning})))


# --- sections ----------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _normal(value: str) -> str:
    token = value.strip().lower()
    return _ALIASES.get(token, token)


def _token(value: str | None, known: frozenset[str], warnings: set[str], what: str) -> str | None:
    if value is None:
        return None
    token = _normal(value)
    if token and token not in known:
        warnings.add(f"unknown_{what}")
    return token or None


def _epoch(value: str | None, what: str) -> int:
    if value is None:
        raise _refuse("missing_field", f"no date_range {what}")
    try:
        number = int(float(value))
    except (ValueError, OverflowError):  # not a number, NaN, infinite
        raise _refuse("bad_date", f"date_range {what} is not a number") from None
    if number < 0:
        raise _refuse("bad_date", f"date_range {what} is before 1970")
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
    if len(org_name.strip()) > MAX_IDENTIFIER or len(report_id) > MAX_IDENTIFIER:
        # They identify the report (with the domain): cut, two reports would be one.
        raise _refuse(
            "field_too_long", f"org_name or report_id longer than {MAX_IDENTIFIER} characters"
        )
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


@functools.lru_cache(maxsize=4096)
def _name(domain: str) -> str:
    """A record's domain as compared and stored: lower case, no root dot, an IDN as its
    A-label; what IDNA refuses is kept as written (lower case), never refused."""
    name = domain.lower().rstrip(".")
    if name.isascii():
        return name
    try:
        return to_a_label(name)
    except DomainError:
        return name


def _build_policy(node: _Node, warnings: set[str]) -> PolicyPublished:
    domain = (node.get("domain") or "").lower().rstrip(".")
    if not domain:
        raise _refuse("missing_field", "no policy_published domain")
    if len(domain) > _MAX_DOMAIN:
        raise _refuse("field_too_long", f"policy_published domain longer than {_MAX_DOMAIN}")
    try:
        # As the config spells its domains (IDNs as A-labels), so a report meets its
        # domain's settings; junk ("a/b", "x@y", an IP address) is no domain's report.
        domain = to_a_label(domain)
    except DomainError:
        raise _refuse("bad_domain", "policy_published domain is not a domain name") from None
    pct = node.get("pct")
    disposition = _DISPOSITIONS - {"pass"}
    return PolicyPublished(
        domain=domain,
        adkim=_lower(node.get("adkim")),
        aspf=_lower(node.get("aspf")),
        p=_token(node.get("p"), disposition, warnings, "policy"),
        sp=_token(node.get("sp"), disposition, warnings, "policy"),
        np=_token(node.get("np"), disposition, warnings, "policy"),
        pct=int(pct) if pct and pct.isascii() and pct.isdigit() and len(pct) <= 3 else None,
        fo=node.get("fo"),
        testing=_lower(node.get("testing")),
        discovery_method=_lower(node.get("discovery_method")),
    )


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


class _Fields(NamedTuple):
    """One ``<record>``'s values as read (stripped, "" when absent), before any check."""

    source_ip: str
    count_text: str
    disposition: str
    dkim: str  # policy_evaluated
    spf: str
    reasons: list[tuple[str, str]]  # (type, comment)
    envelope_to: str
    envelope_from: str
    header_from: str
    dkim_results: list[tuple[str, str, str, str]]  # (domain, result, selector, human_result)
    spf_results: list[tuple[str, str, str, str]]  # (domain, result, scope, human_result)


def _own(element: Element) -> str:
    """The element's own text, stripped ("" when it has none)."""
    if len(element):
        return _text(element).strip()
    text = element.text
    return text.strip() if text else ""


def _auth_fields(element: Element, third: str) -> tuple[str, str, str, str]:
    """(domain, result, selector or scope, human_result) of one DKIM or SPF result, each
    the first child of that name."""
    domain = result = other = human = None
    for child in element:
        name = _local(child.tag)
        if name == "domain":
            domain = _own(child) if domain is None else domain
        elif name == "result":
            result = _own(child) if result is None else result
        elif name == third:
            other = _own(child) if other is None else other
        elif name == "human_result":
            human = _own(child) if human is None else human
    return domain or "", result or "", other or "", human or ""


def _reason(element: Element) -> tuple[str, str]:
    """(type, comment) of one ``policy_evaluated/reason``."""
    kind = comment = None
    for child in element:
        name = _local(child.tag)
        if name == "type":
            kind = _own(child) if kind is None else kind
        elif name == "comment":
            comment = _own(child) if comment is None else comment
    return kind or "", comment or ""


def _record_fields(record: Element) -> _Fields:
    """Read one ``<record>`` straight off libxml2's tree, the first child of each name
    (the hot path: one loop per level, only the names read, no intermediate values)."""
    row = identifiers = identities = auth = None
    for part in record:
        name = _local(part.tag)
        if name == "row":
            row = part if row is None else row
        elif name == "identifiers":
            identifiers = part if identifiers is None else identifiers
        elif name == "identities":
            identities = part if identities is None else identities
        elif name == "auth_results":
            auth = part if auth is None else auth
    source_ip = count = disposition = dkim = spf = evaluated = None
    reasons = []
    if row is not None:
        for child in row:
            name = _local(child.tag)
            if name == "source_ip":
                source_ip = _own(child) if source_ip is None else source_ip
            elif name == "count":
                count = _own(child) if count is None else count
            elif name == "policy_evaluated":
                evaluated = child if evaluated is None else evaluated
    if evaluated is not None:
        for child in evaluated:
            name = _local(child.tag)
            if name == "disposition":
                disposition = _own(child) if disposition is None else disposition
            elif name == "dkim":
                dkim = _own(child) if dkim is None else dkim
            elif name == "spf":
                spf = _own(child) if spf is None else spf
            elif name == "reason":
                reasons.append(_reason(child))
    envelope_to = envelope_from = header_from = None
    chosen = identifiers if identifiers is not None else identities
    if chosen is not None:
        for child in chosen:
            name = _local(child.tag)
            if name == "header_from":
                header_from = _own(child) if header_from is None else header_from
            elif name == "envelope_from":
                envelope_from = _own(child) if envelope_from is None else envelope_from
            elif name == "envelope_to":
                envelope_to = _own(child) if envelope_to is None else envelope_to
    dkim_results, spf_results = [], []
    if auth is not None:
        for child in auth:
            name = _local(child.tag)
            if name == "dkim":
                dkim_results.append(_auth_fields(child, "selector"))
            elif name == "spf":
                spf_results.append(_auth_fields(child, "scope"))
    return _Fields(
        source_ip or "",
        count or "",
        disposition or "",
        dkim or "",
        spf or "",
        reasons,
        envelope_to or "",
        envelope_from or "",
        header_from or "",
        dkim_results,
        spf_results,
    )


@functools.lru_cache(maxsize=1024)
def _checked(value: str, known: frozenset[str]) -> tuple[str, bool]:
    """(the token, whether it is outside ``known``): ``_token`` for the hot path, cached."""
    token = _normal(value)
    return token, bool(token) and token not in known


def _row_of(fields: _Fields, warnings: set[str]) -> tuple[RowKey, int]:
    """The record's ``RowKey`` fields (as a plain tuple: the rows dict takes it as a key)
    and its count.

    Raises:
        MalformedReportError: ``bad_source_ip``, ``bad_count``.
    """
    ip, count_text, disposition, dkim, spf, _reasons, _to, _from, header_from, dkims, spfs = fields
    source_ip = _source_ip(ip)
    # ASCII digits only (str.isdigit also takes other scripts' digits and superscripts),
    # and a bound that keeps every sum within the store's 64-bit integers.
    if not (count_text.isascii() and count_text.isdigit()) or len(count_text) > _COUNT_DIGITS:
        raise _refuse("bad_count", "a record's count is not a non-negative integer")
    count = int(count_text)
    if count > MAX_COUNT:
        raise _refuse("bad_count", f"a record's count is above {MAX_COUNT}")
    # Names compare without case, without a root dot (example.com. is example.com) and as
    # A-labels (bücher.example is xn--bcher-kva.example), as the policy domain does.
    header_from = _name(header_from)
    signatures = []
    for domain, result, selector, _human in dkims:
        token, odd = _checked(result, _AUTH_RESULTS)
        if odd:
            warnings.add("unknown_result")
        # A selector is a DNS label: s1 and S1 are one selector (RFC 6376 §3.1, RFC 4343).
        signatures.append((_name(domain), token or "none", selector.lower()))
    spf_domain = spf_result = ""
    spoken = False  # an mfrom (or unscoped) result speaks for the record over a helo one
    for n, (domain, result, scope, _human) in enumerate(spfs):
        token, odd = _checked(result, _AUTH_RESULTS)
        if odd:
            warnings.add("unknown_result")
        mfrom = not scope or scope.lower() == "mfrom"
        if n == 0 or (mfrom and not spoken):
            spf_domain, spf_result = _name(domain), token or "none"
            spoken = mfrom
    disposition, odd = _checked(disposition, _DISPOSITIONS)
    if odd:
        warnings.add("unknown_disposition")
    dkim, odd = _checked(dkim, _VERDICTS)
    if odd:
        warnings.add("unknown_verdict")
    spf, odd = _checked(spf, _VERDICTS)
    if odd:
        warnings.add("unknown_verdict")
    dkim_domain, dkim_selector, dkim_result = _speaking_dkim(signatures, header_from)
    key = (
        source_ip,
        header_from,
        disposition or "none",
        dkim,
        spf,
        dkim_domain,
        dkim_selector,
        dkim_result,
        spf_domain,
        spf_result,
    )
    return key, count  # type: ignore[return-value]  # a plain tuple equal to its RowKey


def _speaking_dkim(results: list[tuple[str, str, str]], header_from: str) -> tuple[str, str, str]:
    """(domain, selector, result) of the DKIM result that speaks for the record: a pass of
    the From domain itself (aligned strictly too), else an aligned pass (relaxed), else a
    pass, else the first."""
    for domain, result, selector in results:
        if result == "pass" and domain == header_from:
            return domain, selector, result
    for domain, result, selector in results:
        if result == "pass" and _aligned(domain, header_from):
            return domain, selector, result
    for domain, result, selector in results:
        if result == "pass":
            return domain, selector, result
    if results:
        domain, result, selector = results[0]
        return domain, selector, result
    return "", "", ""


def _record_of(fields: _Fields, key: RowKey, count: int) -> AggregateRecord:
    """The whole record, for ``on_record`` (its tokens are the key's)."""
    return AggregateRecord(
        source_ip=key.source_ip,
        count=count,
        disposition=key.disposition,
        dkim=key.dkim or None,
        spf=key.spf or None,
        reasons=tuple((kind.lower(), comment or None) for kind, comment in fields.reasons),
        envelope_to=fields.envelope_to.lower() or None,
        envelope_from=fields.envelope_from.lower() or None,
        header_from=key.header_from,
        dkim_results=tuple(
            AuthResult(
                domain.lower(), _normal(result) or "none", selector or None, None, human or None
            )
            for domain, result, selector, human in fields.dkim_results
        ),
        spf_results=tuple(
            AuthResult(
                domain.lower(),
                _normal(result) or "none",
                None,
                scope.lower() or None,
                human or None,
            )
            for domain, result, scope, human in fields.spf_results
        ),
    )


@functools.lru_cache(maxsize=4096)
def _source_ip(text: str) -> str:
    """The address in canonical form (cached: a report repeats its sources many times);
    an IPv4-mapped IPv6 address (``::ffff:192.0.2.10``, as some receivers write a source
    that reached them over IPv4) is that IPv4 address, so it meets its ``sending_ips``
    entry and its other rows."""
    try:
        address = ipaddress.ip_address("".join(text.split()))
    except ValueError:
        raise _refuse("bad_source_ip", "a record's source_ip is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # fe80::1%eth0: a zone is local to the receiver, and the SPF and PTR code (and
        # every other consumer of a stored source) cannot take it.
        raise _refuse("bad_source_ip", "a record's source_ip carries an IPv6 zone")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@functools.lru_cache(maxsize=4096)
def _org(domain: str) -> str:
    return registered_domain(domain) or domain if domain else ""


def _aligned(domain: str, header_from: str) -> bool:
    return bool(domain) and _org(domain) == _org(header_from)


def iter_chunks(data: bytes, size: int = 256 * 1024) -> Iterable[bytes]:
    """``data`` in slices (views would keep the whole buffer alive anyway)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
