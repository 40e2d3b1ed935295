"""Feedback reports (ARF, RFC 5965 / 6650 / 6591, and Microsoft JMRP) into a typed value.

``parse_arf(raw)`` is a pure function: bytes in, a frozen :class:`FeedbackReport` out, or
a refusal (``monitor.ingest.errors``) with a stable reason code:

NotArfError (the mail is readable but is not a feedback report; HTTP 422)
    ``not_multipart_report``          a single-part message
    ``delivery_status_notification``  a DSN bounce (RFC 3464 / 6533)
    ``other_report_type``             another multipart/report (an MDN, TLS report, ...)
    ``no_feedback_report``            multipart, but no message/feedback-report part and
                                      not Microsoft JMRP
MalformedReportError (it cannot be read; HTTP 400)
    ``empty``                     no bytes, or only whitespace
    ``undecodable``               no RFC 5322 header fields, or a part whose transfer
                                  encoding cannot be decoded
    ``missing_boundary``          multipart without a boundary parameter
    ``no_mime_parts``             multipart whose boundary never occurs
    ``too_many_parts``            more than ``MAX_PARTS`` top-level parts
    ``too_many_recipients``       more than ``MAX_RECIPIENTS`` distinct Original-Rcpt-To
    ``bad_feedback_report_part``  a message/feedback-report part without any ARF field

The MIME walk is deliberately small and hand-written: only the top-level parts are
split, only header blocks are decoded, and the original message's body is never
parsed. The standard library's ``email`` package does far more work per report (see
issue 4 item 11). Line endings are normalised (CRLF and bare CR become LF) first.
"""

from __future__ import annotations

import binascii
import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parseaddr, parsedate_tz
from enum import StrEnum

from monitor.ingest.digest import message_key
from monitor.ingest.errors import MalformedReportError, NotArfError
from monitor.model.privacy import PrivacyError, normalise_address

__all__ = [
    "MAX_PARTS",
    "MAX_RECIPIENTS",
    "FeedbackReport",
    "FeedbackType",
    "Headers",
    "OriginalFormat",
    "ReportFormat",
    "parse_arf",
    "parse_date",
    "parse_header_block",
    "redact_addresses",
]

MAX_PARTS = 64
MAX_RECIPIENTS = 100  # distinct Original-Rcpt-To addresses in one report
_MAX_VALUE = 512  # bound on the free-text fields we keep (user agent, selector, ...)
_MAX_MAILBOX = 2048  # an address is at most 320 characters; allow a display name besides


class FeedbackType(StrEnum):
    """RFC 5965 §7.3 registry (with RFC 6430 not-spam and RFC 6591 auth-failure)."""

    ABUSE = "abuse"
    FRAUD = "fraud"
    VIRUS = "virus"
    OTHER = "other"
    NOT_SPAM = "not-spam"
    AUTH_FAILURE = "auth-failure"

    @property
    def is_complaint(self) -> bool:
        """A recipient's complaint about the message (counts toward the complaint rate).

        ``not-spam`` is the opposite of a complaint and ``auth-failure`` is a receiver's
        authentication report; ``other`` (which also absorbs unregistered types such as
        the pre-RFC ``opt-out``) is not evidence of a spam complaint either.
        """
        return self in _COMPLAINTS


_COMPLAINTS = frozenset({FeedbackType.ABUSE, FeedbackType.FRAUD, FeedbackType.VIRUS})


class ReportFormat(StrEnum):
    ARF = "arf"  # a message/feedback-report part (RFC 5965)
    JMRP = "jmrp"  # Microsoft JMRP: the original attached, no feedback-report part


class OriginalFormat(StrEnum):
    MESSAGE = "message/rfc822"  # the whole original (we keep its header block)
    HEADERS = "text/rfc822-headers"  # only the original's headers (RFC 5965 §2 (d))
    INLINE = "inline"  # the original's headers pasted into a text part


# A quoted local part ("john doe"@example.org, RFC 5321 §4.1.2) first, whole; then any
# token with an '@', or with one percent-encoded ("%40", as in a URL's query).
_ADDRESS = re.compile(
    r'"(?:[^"\\\r\n]|\\.){0,255}"@[^\s<>"\'(),;\[\]]*|[^\s<>"\'(),;:\[\]]*(?:@|%40)[^\s<>"\'(),;\[\]]*'
)
# The same with HTML character references, as an HTML bounce may write an address
# ("john&#46;smith&#64;example&#46;org"): the '@' as "&#64;", "&#x40;" or "&commat;",
# any character of the token as a reference. Each '&' is read one way only (a reference,
# or the character alone), so a token that is no address fails without backtracking.
_AT = r"(?:@|%40|&#0*64;|&#[xX]0*40;|&commat;)"
_REFERENCE = r"&#?\w+;|&(?!#?\w+;)"
_BEFORE_AT = rf"(?:[^\s<>\"'(),;:\[\]&]|{_REFERENCE})*"
_AFTER_AT = rf"(?:[^\s<>\"'(),;\[\]&]|{_REFERENCE})*"
_ADDRESS_WITH_REFERENCES = re.compile(
    rf'"(?:[^"\\\r\n]|\\.){{0,255}}"{_AT}{_AFTER_AT}|{_BEFORE_AT}{_AT}{_AFTER_AT}'
)
_AT_SIGN = re.compile(_AT)


def redact_addresses(text: str) -> str:
    """``text`` with every token containing '@' (or '%40', or an HTML reference to it:
    '&#64;', '&#x40;', '&commat;') replaced by ``<redacted>``."""
    if not _AT_SIGN.search(text):
        return text
    found = _ADDRESS_WITH_REFERENCES if "&" in text else _ADDRESS
    return found.sub("<redacted>", text)


@dataclass(frozen=True, slots=True, repr=False)
class Headers:
    """An ordered, repeatable, case-insensitive list of header fields (name, unfolded value).

    Its ``repr`` shows only the number of fields: values routinely carry addresses.
    """

    fields: tuple[tuple[str, str], ...] = ()
    _lower: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lower", tuple(name.lower() for name, _ in self.fields))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        return cls(tuple((str(name), str(value)) for name, value in pairs))

    def get(self, name: str) -> str | None:
        """The first value of ``name`` (any case), or None."""
        wanted = name.lower()
        for index, lower in enumerate(self._lower):
            if lower == wanted:
                return self.fields[index][1]
        return None

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name`` (any case), in order."""
        wanted = name.lower()
        return tuple(self.fields[i][1] for i, lower in enumerate(self._lower) if lower == wanted)

    def count(self, name: str) -> int:
        wanted = name.lower()
        return sum(1 for lower in self._lower if lower == wanted)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def __len__(self) -> int:
        return len(self.fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __repr__(self) -> str:
        return f"Headers(<{len(self.fields)} fields>)"


@dataclass(frozen=True, slots=True, repr=False)
class FeedbackReport:
    """One feedback report. Addresses are in memory only; ``repr`` never shows them.

    ``raw_sha256`` (hex SHA-256 of the message with CRLF/CR line endings turned into LF)
    is the idempotency key, so the same report counts once over IMAP, HTTP or a file.
    ``feedback_type_missing`` is set when the report had no Feedback-Type (it is then
    treated as ``abuse``); ``feedback_type_raw`` keeps an unregistered type's token
    (e.g. ``opt-out``), which is reported as ``other``.
    """

    raw_sha256: str
    report_format: ReportFormat
    feedback_type: FeedbackType
    feedback_type_missing: bool
    feedback_type_raw: str | None
    user_agent: str | None
    version: str | None
    arrival_date: dt.datetime | None
    source_ip: str | None
    reporting_mta: str | None
    reported_domains: tuple[str, ...]
    reported_uris: tuple[str, ...]
    original_envelope_id: str | None
    original_mail_from: str | None
    original_rcpt_to: tuple[str, ...]
    incidents: int
    authentication_results: tuple[str, ...]
    auth_failure: str | None
    delivery_result: str | None
    dkim_domain: str | None
    dkim_selector: str | None
    dkim_identity: str | None  # may hold an address: in memory only, never stored
    identity_alignment: str | None  # RFC 7489 §7.3.1 / RFC 9991: "none" or dkim,spf
    spf_dns: str | None
    original_format: OriginalFormat | None
    original_headers: Headers | None
    reporter: str | None
    report_fields: Headers

    @property
    def is_complaint(self) -> bool:
        return self.feedback_type.is_complaint

    def __repr__(self) -> str:
        def text(value: str | None) -> str:
            return "None" if value is None else repr(redact_addresses(value))

        arrival = None if self.arrival_date is None else self.arrival_date.isoformat()
        mail_from = None if self.original_mail_from is None else "<redacted>"
        domains = tuple(redact_addresses(d) for d in self.reported_domains)
        original = None if self.original_format is None else self.original_format.value
        return (
            f"FeedbackReport(feedback_type={self.feedback_type.value!r}, "
            f"feedback_type_missing={self.feedback_type_missing}, "
            f"report_format={self.report_format.value!r}, reporter={text(self.reporter)}, "
            f"user_agent={text(self.user_agent)}, arrival_date={arrival!r}, "
            f"source_ip={text(self.source_ip)}, reported_domains={domains!r}, "
            f"original_mail_from={mail_from}, "
            f"original_rcpt_to=<{len(self.original_rcpt_to)} redacted>, "
            f"original_format={original!r}, "
            f"raw_sha256={self.raw_sha256!r})"
        )


# --- header blocks ---------------------------------------------------------------

# RFC 5322 §3.6.8: a field name is printable US-ASCII except ':'; obsolete syntax
# (RFC 5322 §4.5) allows whitespace before the colon. A field runs on over the
# continuation lines (starting with whitespace) that follow it.
_FIELD = re.compile(r"^([!-9;-~]+)[ \t]*:(.*(?:\n[ \t].*)*)", re.MULTILINE)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails: every byte maps to a code point


def parse_header_block(block: str) -> Headers:
    """Fields of a header block (LF line endings), unfolded per RFC 5322 §2.2.3.

    Lines that are neither a field nor a continuation (an mbox ``From `` line, a
    stray blank line, ``REDACTED``) are skipped rather than ending the block.
    """
    return Headers(
        tuple((name, value.replace("\n", "").strip()) for name, value in _FIELD.findall(block))
    )


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of an entity with LF line endings."""
    if data.startswith(b"\n"):
        return b"", data[1:]
    end = data.find(b"\n\n")
    if end < 0:
        return data, b""
    return data[:end], data[end + 2 :]


# RFC 2045 §5.1: "; attribute = value", the value a token or a quoted string.
_PARAMETER = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """(lower-case media type, parameters) of a Content-Type value (RFC 2045 §5.1)."""
    if not value:
        return "text/plain", {}
    media = _strip_comments(value.partition(";")[0]).strip().lower() or "text/plain"
    params: dict[str, str] = {}
    for match in _PARAMETER.finditer(value):
        raw = match.group(2).strip()
        if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
        params.setdefault(match.group(1).lower(), raw)
    return media, params


_COMMENT = re.compile(r"\([^()]*\)")


def _strip_comments(value: str) -> str:
    return _COMMENT.sub(" ", value) if "(" in value else value


# --- MIME parts --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    headers: Headers
    media: str
    body: bytes

    def decoded_body(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone (RFC 2045 §6).

        Raises:
            MalformedReportError: ``undecodable`` base64.
        """
        encoding = (self.headers.get("Content-Transfer-Encoding") or "").strip().lower()
        try:
            if encoding == "base64":
                return _normalise(binascii.a2b_base64(self.body))
            if encoding == "quoted-printable":
                return _normalise(binascii.a2b_qp(self.body))
        except (binascii.Error, ValueError):
            raise MalformedReportError(
                "undecodable", "a MIME part's transfer encoding cannot be decoded"
            ) from None
        return self.body


def _normalise(data: bytes) -> bytes:
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _split_parts(body: bytes, boundary: str) -> list[_Part]:
    """Top-level body parts of a multipart body (RFC 2046 §5.1.1); tolerant of a missing close.

    Raises:
        MalformedReportError: ``no_mime_parts``, ``too_many_parts``.
    """
    delimiter = b"\n--" + boundary.encode("latin-1", "replace")
    text = b"\n" + body
    chunks: list[bytes] = []
    start: int | None = None  # where the current part's content starts
    position = text.find(delimiter)
    while position >= 0:
        after = position + len(delimiter)
        line_end = text.find(b"\n", after)
        if line_end < 0:
            line_end = len(text)
        rest = text[after:line_end]
        closing = rest.startswith(b"--")
        if (rest[2:] if closing else rest).strip():  # a longer line that merely starts alike
            position = text.find(delimiter, after)
            continue
        if start is not None:
            chunks.append(text[start:position])
            if len(chunks) > MAX_PARTS:
                raise MalformedReportError("too_many_parts", "too many MIME parts")
        if closing:
            start = None
            break
        start = line_end + 1
        position = text.find(delimiter, line_end)
    if start is not None and start <= len(text):
        chunks.append(text[start:])  # no close delimiter: the rest is the last part
    if not chunks:
        raise MalformedReportError("no_mime_parts", "the multipart boundary never occurs")
    parts = []
    for chunk in chunks:
        head, part_body = _split_head(chunk)
        headers = parse_header_block(_decode(head))
        media, _ = _content_type(headers.get("Content-Type"))
        parts.append(_Part(headers, media, part_body))
    return parts


# --- field values ------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_FRACTION = re.compile(r"(\d{1,2}:\d{2}:\d{2})[.,]\d+")


def _bounded(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:_MAX_VALUE] or None


def _token(value: str | None) -> str | None:
    """The first token of a field, lower-cased (``Delivery-Result: delivered (x)``)."""
    if not value:
        return None
    match = _TOKEN.match(value.strip())
    return match.group(0).lower()[:64] if match else None


def parse_date(value: str | None) -> dt.datetime | None:
    """An aware datetime from an RFC 5322 date (zone names, comments, 2-digit years,
    fractional seconds tolerated) or ISO 8601; a date without a zone is taken as UTC."""
    if not value:
        return None
    text = _FRACTION.sub(r"\1", _strip_comments(value)).strip()
    parsed = parsedate_tz(text)
    try:
        if parsed is None:
            iso = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return iso if iso.tzinfo else iso.replace(tzinfo=dt.UTC)
        year, month, day, hour, minute, second = parsed[:6]
        offset = dt.timezone(dt.timedelta(seconds=parsed[9] or 0))
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=offset)
    except (ValueError, OverflowError):
        return None


def _parse_ip(value: str | None) -> str | None:
    """An IP address from Source-IP (``192.0.2.1 (host)``, ``[192.0.2.1]``, ``IPv6:...``)."""
    if not value:
        return None
    words = _strip_comments(value).split()
    if not words:
        return None
    candidate = words[0].strip("[]")
    if candidate[:5].lower() == "ipv6:":
        candidate = candidate[5:]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        host, _, port = candidate.rpartition(":")  # 192.0.2.1:25
        if port.isascii() and port.isdigit() and host.count(":") == 0:
            try:
                return str(ipaddress.ip_address(host))
            except ValueError:
                return None
        return None


# "a@b", "<a@b>", "Name <a@b>": no quotes, comments or lists, so no need for parseaddr.
# (Unambiguous on purpose: the first class cannot match '<', so no backtracking.)
_SIMPLE_MAILBOX = re.compile(r"[^\"(),<>]*(?:<[^\"(),<>]*>)?")


def _address(value: str | None) -> str | None:
    """The addr-spec of a mailbox field, without display name or angle brackets."""
    if not value:
        return None
    value = value.strip()
    if len(value) > _MAX_MAILBOX:
        return None
    if _SIMPLE_MAILBOX.fullmatch(value):
        address = value.rpartition("<")[2].rstrip(">").strip()
    else:
        address = parseaddr(value)[1].strip() or value.strip().strip("<>").strip()
    try:
        # What cannot be pseudonymised (a@b@example.com) is no recipient: the report is
        # still read, and counted, without it.
        normalise_address(address)
    except PrivacyError:
        return None
    return address[:320]


def _domain_of(value: str | None) -> str | None:
    address = _address(value)
    if address is None:
        return None
    return address.rpartition("@")[2].strip().rstrip(".").lower() or None


def _domains(values: Iterable[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for value in values:
        domain = value.strip().strip("<>").rstrip(".").lower()
        if domain:
            found.setdefault(domain[:253], None)
    return tuple(found)


def _reporting_mta(value: str | None) -> str | None:
    """``dns; mail.example.com`` (RFC 5965 §3.2, RFC 3464 mta-name-type) → the name."""
    if not value:
        return None
    _, sep, name = value.partition(";")
    return _bounded(name if sep else value)


# --- the report -------------------------------------------------------------------

_ORIGINAL_MESSAGE = frozenset({"message/rfc822", "message/global"})
_ORIGINAL_HEADERS = frozenset(
    {
        "text/rfc822-headers",
        "text/rfc822-header",
        "message/rfc822-headers",
        "message/global-headers",
    }
)
_DSN_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_DSN_TYPES = frozenset({"delivery-status", "global-delivery-status"})
_ARF_FIELDS = frozenset(
    {
        "feedback-type",
        "user-agent",
        "version",
        "original-mail-from",
        "original-rcpt-to",
        "arrival-date",
        "received-date",
        "source-ip",
        "reported-domain",
        "reported-uri",
        "authentication-results",
        "auth-failure",
        "reporting-mta",
    }
)
_JMRP_RECIPIENT = "X-HmXmrOriginalRecipient"
_MICROSOFT_REPORTERS = frozenset({"hotmail.com", "outlook.com", "microsoft.com", "msn.com"})
_JMRP_SUBJECT = re.compile(r"\s*complaint about message from\s+(\S+)", re.IGNORECASE)


def parse_arf(raw: bytes) -> FeedbackReport:
    """Parse one feedback report (RFC 5965 with RFC 6650 and RFC 6591, or Microsoft JMRP).

    Raises:
        NotArfError: readable mail that is not a feedback report.
        MalformedReportError: a report that cannot be read.
    """
    if not raw.strip():
        raise MalformedReportError("empty", "the message is empty")
    data = _normalise(raw)
    # The same report counts once whichever way it came (monitor.ingest.digest).
    digest = message_key(data)
    head, body = _split_head(data)
    top = parse_header_block(_decode(head))
    if not len(top):
        raise MalformedReportError("undecodable", "no RFC 5322 header fields found")
    media, params = _content_type(top.get("Content-Type"))
    report_type = params.get("report-type", "").strip().lower()
    if not media.startswith("multipart/"):
        raise NotArfError("not_multipart_report", "not a multipart message")
    if media == "multipart/report" and report_type in _DSN_TYPES:
        # Said before its parts are read: a DSN whose boundary is broken (bounces come so)
        # is a bounce to read, not a feedback report that cannot be.
        raise NotArfError("delivery_status_notification", "a delivery status notification")
    boundary = params.get("boundary")
    if not boundary:
        raise MalformedReportError("missing_boundary", "multipart message without a boundary")
    parts = _split_parts(body, boundary)

    feedback = next((p for p in parts if p.media == "message/feedback-report"), None)
    original_format, original = _find_original(parts, feedback)
    reporter = _domain_of(top.get("From"))
    if feedback is not None:
        fields = parse_header_block(_decode(feedback.decoded_body()))
        if not _ARF_FIELDS.intersection(name.lower() for name, _ in fields):
            raise MalformedReportError(
                "bad_feedback_report_part", "the feedback-report part has no ARF fields"
            )
        return _arf_report(digest, fields, original_format, original, reporter)
    if report_type in _DSN_TYPES or any(p.media in _DSN_PARTS for p in parts):
        raise NotArfError("delivery_status_notification", "a delivery status notification")
    if original is not None and _is_jmrp(top, original, reporter):
        return _jmrp_report(digest, top, original_format, original, reporter)
    if media == "multipart/report" and report_type != "feedback-report":
        raise NotArfError("other_report_type", "a multipart/report that is not feedback")
    raise NotArfError("no_feedback_report", "no message/feedback-report part")


def _find_original(
    parts: list[_Part], feedback: _Part | None
) -> tuple[OriginalFormat | None, Headers | None]:
    for part in parts:
        if part.media in _ORIGINAL_MESSAGE:
            head, _ = _split_head(part.decoded_body().lstrip(b"\n"))
            return OriginalFormat.MESSAGE, parse_header_block(_decode(head))
        if part.media in _ORIGINAL_HEADERS:
            return OriginalFormat.HEADERS, parse_header_block(_decode(part.decoded_body()))
    if feedback is None:
        return None, None
    # Some reporters paste the original's headers into a text part after the report.
    for part in parts[parts.index(feedback) + 1 :]:
        if part.media.startswith("text/") or part.media == "application/octet-stream":
            head, _ = _split_head(part.decoded_body().lstrip(b"\n"))
            headers = parse_header_block(_decode(head))
            if len(headers) >= 2 and ("Received" in headers or "Message-ID" in headers):
                return OriginalFormat.INLINE, headers
    return None, None


def _feedback_type(value: str | None) -> tuple[FeedbackType, bool, str | None]:
    """(type, missing, unregistered token). RFC 5965 §3.1: Feedback-Type is required; a
    report without it is still a report, counted as abuse and flagged."""
    token = _token(value)
    if token is None:
        return FeedbackType.ABUSE, True, None
    try:
        return FeedbackType(token), False, None
    except ValueError:
        return FeedbackType.OTHER, False, token


def _arf_report(
    digest: str,
    fields: Headers,
    original_format: OriginalFormat | None,
    original: Headers | None,
    reporter: str | None,
) -> FeedbackReport:
    feedback_type, missing, unregistered = _feedback_type(fields.get("Feedback-Type"))
    recipients = tuple(
        dict.fromkeys(
            address for value in fields.get_all("Original-Rcpt-To") if (address := _address(value))
        )
    )
    if len(recipients) > MAX_RECIPIENTS:
        # Each recipient is a complaint: a report claiming thousands is not one report.
        raise MalformedReportError("too_many_recipients", "too many Original-Rcpt-To fields")
    incidents = (fields.get("Incidents") or "").strip()
    # RFC 5965 §3.2: Arrival-Date replaces the historic Received-Date.
    arrival = fields.get("Arrival-Date") or fields.get("Received-Date")
    return FeedbackReport(
        raw_sha256=digest,
        report_format=ReportFormat.ARF,
        feedback_type=feedback_type,
        feedback_type_missing=missing,
        feedback_type_raw=unregistered,
        user_agent=_bounded(fields.get("User-Agent")),
        version=_bounded(fields.get("Version")),
        arrival_date=parse_date(arrival),
        source_ip=_parse_ip(fields.get("Source-IP")),
        reporting_mta=_reporting_mta(fields.get("Reporting-MTA")),
        reported_domains=_domains(fields.get_all("Reported-Domain")),
        reported_uris=tuple(v[:2048] for v in fields.get_all("Reported-URI") if v),
        original_envelope_id=_bounded(fields.get("Original-Envelope-Id")),
        original_mail_from=_address(fields.get("Original-Mail-From")),
        original_rcpt_to=recipients,
        # ASCII digits only ("²".isdigit() is true, int() refuses it), and few of them.
        incidents=int(incidents) if _count(incidents) else 1,
        authentication_results=tuple(v for v in fields.get_all("Authentication-Results") if v),
        auth_failure=_token(fields.get("Auth-Failure")),
        delivery_result=_token(fields.get("Delivery-Result")),
        dkim_domain=_token(fields.get("DKIM-Domain")),
        dkim_selector=_bounded(fields.get("DKIM-Selector")),
        dkim_identity=_bounded(fields.get("DKIM-Identity")),
        identity_alignment=_alignment(fields.get("Identity-Alignment")),
        spf_dns=_bounded(fields.get("SPF-DNS")),
        original_format=original_format,
        original_headers=original,
        reporter=reporter,
        report_fields=fields,
    )


def _alignment(value: str | None) -> str | None:
    """``Identity-Alignment``: a comma list of dkim/spf, or none (CFWS allowed)."""
    if not value:
        return None
    text = _strip_comments(value).lower()
    parts = sorted({p.strip() for p in text.split(",") if p.strip()})
    return ",".join(parts)[:32] or None


def _count(text: str) -> bool:
    """ASCII digits, at most nine: ``"²".isdigit()`` is true and ``int()`` refuses it, and
    ``int()`` refuses (or is slow on) thousands of digits."""
    return 0 < len(text) <= 9 and text.isascii() and text.isdigit()


def _is_jmrp(top: Headers, original: Headers, reporter: str | None) -> bool:
    """Microsoft JMRP: the complained-about message attached, no feedback-report part."""
    if _JMRP_RECIPIENT in original:
        return True
    subject = top.get("Subject") or ""
    return reporter in _MICROSOFT_REPORTERS and _JMRP_SUBJECT.match(subject) is not None


def _jmrp_report(
    digest: str,
    top: Headers,
    original_format: OriginalFormat | None,
    original: Headers,
    reporter: str | None,
) -> FeedbackReport:
    recipient = _address(original.get(_JMRP_RECIPIENT))
    subject = _JMRP_SUBJECT.match(top.get("Subject") or "")
    return FeedbackReport(
        raw_sha256=digest,
        report_format=ReportFormat.JMRP,
        feedback_type=FeedbackType.ABUSE,  # a JMRP report is a "junk" click
        feedback_type_missing=False,
        feedback_type_raw=None,
        user_agent=None,
        version=None,
        arrival_date=parse_date(original.get("X-OriginalArrivalTime")),
        source_ip=_parse_ip(subject.group(1)) if subject else None,
        reporting_mta=None,
        reported_domains=(),
        reported_uris=(),
        original_envelope_id=None,
        original_mail_from=_address(original.get("Return-Path")),
        original_rcpt_to=(recipient,) if recipient else (),
        incidents=1,
        authentication_results=tuple(v for v in original.get_all("Authentication-Results") if v),
        auth_failure=None,
        delivery_result=None,
        dkim_domain=None,
        dkim_selector=None,
        dkim_identity=None,
        identity_alignment=None,
        spf_dns=None,
        original_format=original_format,
        original_headers=original,
        reporter=reporter,
        report_fields=Headers(),
    )
