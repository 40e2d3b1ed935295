"""Bounce messages (RFC 3464 DSNs and the common non-standard formats) into a typed value.

``parse_bounce(raw)`` is a pure function: bytes in, a frozen :class:`BounceMessage` out,
or a refusal with a stable reason code:

NotBounceError (readable mail that is not a failure or delay notice; CLI ``not_a_bounce``)
    ``feedback_report``   an ARF report (``report-type=feedback-report``)
    ``delivered``         a DSN whose recipients were all delivered, relayed or expanded
    ``autoreply``         an RFC 3834 auto-reply (vacation, "Automatic reply:")
    ``not_a_bounce``      ordinary mail
MalformedReportError
    ``empty``             no bytes, or only white space
    ``undecodable``       no RFC 5322 header fields
    ``too_deep``          MIME parts nested too deep for the standard library to read
    ``no_recipient``      a bounce that names neither a recipient nor any reply text
    ``too_many_recipients`` more than ``MAX_RECIPIENTS`` recipients

A bounce that names a reply but no recipient (no Final-Recipient, no X-Failed-Recipients,
no recipient in a plain-text format its text is read for) is read with ``recipient=None``:
the failure counts, nobody can be suppressed. An address of our own (the bounce's To, the
returned message's From, a MAIL FROM) is never a recipient.

A bounce is recognised first, an auto-reply only after: Postfix and Exim DSNs carry
``Auto-Submitted: auto-replied`` too (RFC 3834 §5 leaves it to the generator). The
standard library's ``email`` parser reads the MIME structure (the ``compat32`` policy,
as flufl.bounce uses it), so a benchmark against it compares the same parsing work.
"""

from __future__ import annotations

import binascii
import dataclasses
import email
import email.message
import quopri
import re
import unicodedata
from dataclasses import dataclass
from email.policy import compat32
from html import unescape

from checks.bounces import BounceClass, Classification, classify_reply, provider_of
from monitor.ingest.arf import Headers
from monitor.ingest.digest import message_key
from monitor.ingest.errors import MalformedReportError, WrongKindError
from monitor.model.privacy import PrivacyError, normalise_address

__all__ = [
    "MAX_RECIPIENTS",
    "BounceMessage",
    "BounceRecipient",
    "NotBounceError",
    "classify_recipient",
    "parse_bounce",
]

_MAX_DIAGNOSTIC = 1000  # a reply is at most a few lines; bound what is kept
# Recipients one bounce may name: a server returns one message's failures (RFC 5321 asks
# servers to take at least 100 recipients per message); beyond this it is not a bounce
# anyone's mail server wrote, and each recipient costs a classification and a row.
MAX_RECIPIENTS = 1000


class NotBounceError(WrongKindError):
    """Readable mail that is not a bounce: an auto-reply, a delivery report, ordinary mail."""


@dataclass(frozen=True, slots=True, repr=False)
class BounceRecipient:
    """One recipient's failure or delay. ``recipient`` is a raw address (memory only)."""

    recipient: str | None
    delayed: bool
    status: str | None  # the DSN Status (RFC 3463), e.g. "5.1.1"
    diagnostic: str | None  # the receiver's reply, as the bounce quotes it
    remote_mta: str | None
    # The reply lines of the bounce's human-readable text: what to classify when the
    # diagnostic is missing or says nothing a rule knows (Sendmail cuts it at one line).
    context: str | None = None
    reporting_mta: str | None = None  # who wrote the bounce (Reporting-MTA, or From's domain)

    def __repr__(self) -> str:
        return f"BounceRecipient(delayed={self.delayed}, status={self.status!r})"


@dataclass(frozen=True, slots=True, repr=False)
class BounceMessage:
    raw_sha256: str
    recipients: tuple[BounceRecipient, ...]
    original_headers: Headers | None
    reporting_mta: str | None
    standard: bool  # an RFC 3464 delivery-status part (else a plain-text bounce)

    def __repr__(self) -> str:
        return f"BounceMessage(recipients={len(self.recipients)}, standard={self.standard})"


_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_FAILED = ("fail", "error")  # opensmtpd writes "error"; any case (RFC 3464 §2.3.3)
# A dot-atom local part, or a quoted one ("john doe"@, with \-escapes: RFC 5321 §4.1.2).
# Beside ASCII's atom characters, any non-ASCII character but controls, punctuation, white
# space and specials (RFC 6531 allows UTF-8 in both parts: letters, marks such as
# Devanagari's vowel signs, symbols): "«user@example.com»" is user@example.com,
# "राम@example.in" is all of it. One character class each (no alternation), so a long
# run of them that is no address fails in linear time.
_NON_ASCII = (
    "\u00aa\u00b7\u00ba"  # ª · º (Catalan l·l)
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u060b\u060d-\u061a\u061c-\u061e\u0620-\u06d3"
    "\u06d5-\u0963\u0966-\u167f\u1681-\u1fff"  # not the Arabic , ; ? . nor the dandas
    "\u200c\u200d"  # zero-width non-joiner and joiner (Persian, Indic scripts)
    "\u2070-\u2fff\u3005-\u3007\u3040-\ud7ff"  # U+3005-3007: the iteration and zero marks (佐々木)
    "\ue000-\ufefe\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uffef"
    "\U00010000-\U0010ffff"
)
_ATOM = f"[A-Za-z0-9_.!#$%&'*+/=?^`{{|}}~\\-{_NON_ASCII}]"
_LABEL = f"[A-Za-z0-9_\\-{_NON_ASCII}]+"
# Never the tail of a longer token: not after a character a local part may hold, nor after
# an unreadable byte (a surrogate) or its replacement, so an address whose "ü" was lost
# finds no address rather than another person's ("ller@" of "Müller@").
_ADDRESS = re.compile(
    f"(?<![A-Za-z0-9_.!#$%&'*+/=?^`{{|}}~\\-@{_NON_ASCII}\ufffd\udc80-\udcff])"
    + r'(?:"(?:[^"\\\r\n]|\\.){1,64}"|'
    + f"{_ATOM}+)@{_LABEL}(?:\\.{_LABEL})+"
)
_A = _ADDRESS.pattern
# Where a plain-text bounce names a failed recipient, at the start of a line: qmail's and
# Postfix's "<addr>:" paragraphs (Postfix: "<addr>: host ... said:", "<addr> (expanded
# from <alias>):"; GMX quotes it: '"addr":'), Sendmail's "<addr>... reason" and "<addr>"
# alone, all unindented (an indented "<addr>:" continues a quoted reply); an address
# alone on its line under "the following address(es) failed" (Exim, Gmail; Exchange:
# "addr<mailto:addr>", "addr on <date>"); a "Recipient:" or "Final-Recipient:" field.
_RECIPIENT_LINE = re.compile(
    rf"(?:[<\"](?P<bracketed>{_A})[>\"](?:[ \t]*\(expanded from [^)\n]*\))?[ \t]*"
    rf"(?::|\.\.\.|$)|[ \t]*(?P<bare>{_A}):?[ \t]*(?:$|<mailto:|on[ \t])|"
    rf"[ \t]*(?:final-)?recipient:[ \t]*(?:rfc822[ \t]*;[ \t]*)?<?(?P<field>{_A})|"
    rf"[ \t]*original-recipient:[ \t]*(?:rfc822[ \t]*;[ \t]*)?<?(?P<original>{_A}))",
    re.IGNORECASE,
)
# Anywhere in a line: a session transcript's (or Exim's "after RCPT TO:<addr>") recipient,
# IMail's "undeliverable to addr".
_RCPT_TO = re.compile(
    rf"rcpt to:[ \t]*<(?P<rcpt>{_A})>|undeliverable to:?[ \t]*<?(?P<to>{_A})", re.I
)
# A transcript's next command ("--> DATA", ">>> RCPT To:"): the end of a RCPT's exchange.
_COMMAND_LINE = re.compile(r"^\s*(?:-->|>>>)")
# Our own addresses as a bounce's text names them: the MAIL FROM of a transcript, "your
# message from <addr>", Exim's "envelope-from <addr>". Never a failed recipient.
_SENDER_IN_TEXT = re.compile(rf"(?:\bfrom:?|envelope-from)\s*<({_A})>", re.I)
# The bounce's own fields naming its writer and its recipient (the original's sender),
# and the returned message's fields naming its sender.
_OWN_FIELDS = (
    "From",
    "Sender",
    "Reply-To",
    "Return-Path",
    "To",
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
)
_ORIGINAL_SENDER_FIELDS = ("From", "Sender", "Reply-To", "Return-Path")
_FROM_DAEMON = re.compile(
    r"mailer-daemon|postmaster@|mail delivery (?:subsystem|system)|mail administrator|"
    r"\bmailer\b|mdaemon|microsoftexchange",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery status notification|delivery (?:failure|failed)|"
    r"failure notice|mail delivery failed|could not be delivered|non.?delivery|"
    r"delivery (?:has been )?delayed|delayed mail|warning: could not send|"
    r"mail system error|delivery problem|notification d'etat|unzustellbar|"
    r"nondeliverable|message not delivered|rejected:",
    re.IGNORECASE,
)
_DELAY_TEXT = re.compile(
    r"warning message only|do not need to resend|still being retried|will (?:keep )?(?:re)?try|"
    r"delivery (?:has been )?delayed|delayed mail|could not send message for past|"
    r"\(delay\)|delivery to the following recipients? (?:has been|is) delayed",
    re.IGNORECASE,
)
_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|"
    r"abwesenheit|away\b|vacation)",
    re.IGNORECASE,
)
# Where a plain-text bounce starts quoting the original message.
_ORIGINAL_MARKER = re.compile(
    r"^(?:-+ ?(?:this is a copy of|below this line is a copy|original message|"
    r"the header of the original|original message headers|returned message|"
    r"included message)|--- ?below this line|received: from )",
    re.IGNORECASE | re.MULTILINE,
)
# A line that carries a receiver's reply: a reply code, or a lead-in naming one.
_REPLY_LINE = re.compile(
    r"(?:^|[\s:>(])[45]\d\d(?:[\s-]|$)|[45]\.\d\.\d{1,3}|remote host said|said:|smtp error|"
    r"diagnostic|reason:",
    re.IGNORECASE,
)


def _text_of(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):  # no such codec; a NUL in the name (ValueError)
        return payload.decode("utf-8", "replace")


def _utf8(value: str) -> str:
    """A header value as the parser left it (8-bit bytes as surrogates: an SMTPUTF8 MTA
    writes UTF-8 addresses, RFC 6533) in characters; undecodable bytes become U+FFFD."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return unicodedata.normalize("NFC", text)  # an NFD "o\u0308" is one letter, "ö"


def _fields(block: email.message.Message) -> list[tuple[str, str]]:
    # raw_items: compat32's items() turn a value with 8-bit bytes into a Header that
    # prints each byte as U+FFFD
    return [(k, " ".join(_utf8(str(v)).split())) for k, v in block.raw_items()]


def _field_blocks(part: email.message.Message) -> list[list[tuple[str, str]]]:
    """A delivery-status part's blocks (per-message first), each a list of fields."""
    payload = part.get_payload()
    if isinstance(payload, list) and part.get_content_type() == "message/delivery-status":
        # compat32 parses each block as a header-only message
        return [_fields(block) for block in payload if isinstance(block, email.message.Message)]
    if isinstance(payload, list):
        # message/global-delivery-status (RFC 6533) is parsed as one embedded message: the
        # per-message block its header, the recipients' blocks its body (which may be in
        # base64 or quoted-printable: RFC 6533 allows any encoding).
        inner = next((m for m in payload if isinstance(m, email.message.Message)), None)
        if inner is None:
            return []
        body = inner.get_payload(decode=True)  # the body's bytes, as they came
        body = body if isinstance(body, bytes) else b""
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding in ("base64", "quoted-printable") and not inner.keys():
            text = _decoded(body, encoding)
        else:
            head = "\n".join(f"{k}: {v}" for k, v in inner.raw_items())
            text = _utf8(head) + "\n\n" + body.decode("utf-8", "replace")
    else:
        text = _text_of(part) if part.get("Content-Transfer-Encoding") else _utf8(str(payload))
    blocks: list[list[tuple[str, str]]] = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        parsed = email.message_from_string(chunk.strip() + "\n", policy=compat32)
        blocks.append(_fields(parsed))
    return [b for b in blocks if b]


def _decoded(body: bytes, encoding: str) -> str:
    try:
        raw = binascii.a2b_base64(body) if encoding == "base64" else quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", "replace")


def _typed(value: str | None) -> str | None:
    """The value after an RFC 3464 type prefix (``rfc822;``, ``dns;``), stripped; in a
    ``utf-8`` typed address (RFC 6533 §3) the ``\\x{HEX}`` escapes are read."""
    if not value:
        return None
    kind, sep, rest = value.partition(";")
    if sep and kind.strip().lower() == "utf-8":
        # NFC after the escapes: "Jo\x{308}rg" is "Jörg", as the same spelt in UTF-8 is
        rest = unicodedata.normalize("NFC", _UTF8_ESCAPE.sub(_unescaped, rest))
    return (rest if sep else value).strip().strip("<>").strip() or None


_UTF8_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def _unescaped(found: re.Match[str]) -> str:
    """The character a ``\\x{HEX}`` stands for. RFC 6533 escapes non-ASCII characters;
    one for an ASCII character (``\\x{40}``, an "@" that would make the address another
    one) or no character at all makes the address unreadable (U+FFFD), so it names no one."""
    code = int(found.group(1), 16)
    if code < 0x80 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


# An addr-spec may end with a comment (RFC 5322 §3.4.1): "user@example.org (user)".
_TRAILING_COMMENT = re.compile(r"\s*\([^()]*\)\s*$")


def _typed_address(value: str | None) -> str | None:
    """The address a typed recipient field holds (RFC 3464 §2.3.2: exactly one), taken
    whole: a value that is not one address as a whole ("a;victim@example.org",
    "a b@example.org", "a@b@example.org") names no one, never the address-like part of it."""
    text = _TRAILING_COMMENT.sub("", (value or "").strip()).strip().strip("<>").rstrip(".")
    if not text or _ADDRESS.fullmatch(text) is None:
        return None
    try:
        normalise_address(text)
    except PrivacyError:
        return None
    return text


def _standard(
    blocks: list[list[tuple[str, str]]], context: str | None
) -> tuple[list[BounceRecipient], str | None] | None:
    if not blocks:
        return None
    per_message = {k.lower(): v for k, v in blocks[0]}
    reporting = _typed(per_message.get("reporting-mta"))
    recipients = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        fields = {k.lower(): v for k, v in block}
        action = (fields.get("action") or "").strip().lower()
        delayed = action.startswith("delay")
        if not delayed and not action.startswith(_FAILED):
            continue
        status = re.match(r"\s*([245]\.\d{1,3}\.\d{1,3})", fields.get("status") or "")
        recipients.append(
            BounceRecipient(
                # The final recipient; the original one when the final names no one (an
                # obsolete source route such as "@relay:user@host", RFC 3464 §2.3.1).
                recipient=_typed_address(_typed(fields.get("final-recipient")))
                or _typed_address(_typed(fields.get("original-recipient"))),
                delayed=delayed,
                status=status.group(1) if status else None,
                diagnostic=_bounded(_typed(fields.get("diagnostic-code"))) or context,
                remote_mta=_typed(fields.get("remote-mta")),
                context=context,
                reporting_mta=reporting,
            )
        )
    return recipients, reporting


def _has_action(block: list[tuple[str, str]]) -> bool:
    return any(name.lower() == "action" for name, _ in block)


_TEXT_DSN = re.compile(r"^(?:Reporting-MTA|Final-Recipient|Original-Recipient):", re.I | re.M)


def _text_blocks(text: str) -> list[list[tuple[str, str]]] | None:
    """DSN field blocks pasted in a text body (a report whose MIME boundary is broken)."""
    start = _TEXT_DSN.search(text)
    if start is None:
        return None
    blocks: list[list[tuple[str, str]]] = []
    for chunk in re.split(r"\n\s*\n", text[start.start() :].replace("\r\n", "\n")):
        parsed = email.message_from_string(chunk.strip() + "\n", policy=compat32)
        fields = [(k, " ".join(str(v).split())) for k, v in parsed.items()]
        if not fields:
            break
        blocks.append(fields)
    return blocks or None


def _bounded(value: str | None) -> str | None:
    if not value:
        return None
    return " ".join(value.split())[:_MAX_DIAGNOSTIC] or None


def _human_text(msg: email.message.Message) -> str:
    """The bounce's own text (not the quoted original), plain text preferred."""
    texts: list[str] = []
    html: list[str] = []
    if not msg.is_multipart() and msg.get_content_maintype() != "text":
        texts.append(str(msg.get_payload()))  # broken MIME (boundary never used): the raw body
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers") or ctype in _DSN_TYPES:
            break  # the quoted original (and everything after it) is not the bounce's text
        if ctype == "text/plain":
            texts.append(_text_of(part))
        elif ctype == "text/html":  # its text: tags dropped, "&#64;" read as "@"
            html.append(unescape(re.sub(r"<[^>]+>", " ", _text_of(part))))
    text = "\n".join(texts) if any(t.strip() for t in texts) else "\n".join(html)
    marker = _ORIGINAL_MARKER.search(text)
    return text[: marker.start()] if marker else text


def _reply_lines(msg: email.message.Message) -> str | None:
    """The lines of a plain-text bounce that quote the receiver's reply."""
    lines = [line.strip() for line in _human_text(msg).splitlines()]
    return _quoted_reply(lines) or _bounded(" ".join(line for line in lines if line))


def _quoted_reply(lines: list[str]) -> str | None:
    """The reply ``lines`` quote (a reply line and the non-empty ones after it), or None."""
    picked = [i for i, line in enumerate(lines) if line and _REPLY_LINE.search(line)]
    # A reply continues on the following indented/non-empty lines.
    chosen: list[str] = []
    for start in picked:
        for line in lines[start : start + 4]:
            if not line:
                break
            if line not in chosen:
                chosen.append(line)
    return _bounded(" ".join(chosen))


def _looks_like_bounce(msg: email.message.Message) -> bool:
    if msg.get("X-Failed-Recipients"):
        return True
    sender = f"{msg.get('From', '')} {msg.get('Return-Path', '')}"
    subject = str(msg.get("Subject", ""))
    if _BOUNCE_SUBJECT.search(subject) and not _AUTOREPLY_SUBJECT.search(subject):
        return True
    if _FROM_DAEMON.search(sender):
        text = _human_text(msg)
        return bool(re.search(r"deliver|recipient|mailbox|undeliver|failed", text, re.I))
    return False


def _is_autoreply(msg: email.message.Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    return bool(
        auto.startswith("auto-replied")
        or _AUTOREPLY_SUBJECT.search(str(msg.get("Subject", "")))
        or msg.get("X-Autoreply")
        or msg.get("X-Autorespond")
        or str(msg.get("X-Apple-Action", "")).lower().startswith("vacation")
        or str(msg.get("Precedence", "")).lower().startswith("auto_reply")
    )


def _original_headers(msg: email.message.Message) -> Headers | None:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
                return Headers.from_pairs(_fields(inner[0]))
        if ctype == "text/rfc822-headers":
            parsed = email.message_from_string(_text_of(part), policy=compat32)
            return Headers.from_pairs((k, str(v)) for k, v in parsed.items())
    return None


def _own_addresses(msg: email.message.Message, text: str) -> set[str]:
    """Addresses that are ours, never a failed recipient: the bounce's writer and its
    recipient (our envelope sender), the returned message's sender, a MAIL FROM."""
    values = [str(v) for name in _OWN_FIELDS for v in msg.get_all(name) or ()]
    original = _original_headers(msg)
    if original is not None:
        values += [v for name in _ORIGINAL_SENDER_FIELDS for v in original.get_all(name)]
    own = {a.lower() for value in values for a in _ADDRESS.findall(value)}
    return own | {a.lower() for a in _SENDER_IN_TEXT.findall(text)}


def _named_recipient(line: str) -> tuple[str, str] | None:
    """The recipient ``line`` names and how: ``listed`` (a format above), ``original`` (an
    Original-Recipient field) or ``rcpt`` (a transcript's RCPT); None when it names none."""
    found = _RECIPIENT_LINE.match(line)
    if found is not None:
        if found["original"]:
            return found["original"], "original"
        return found["bracketed"] or found["bare"] or found["field"], "listed"
    rcpt = _RCPT_TO.search(line)
    if rcpt is not None:
        return (rcpt["rcpt"], "rcpt") if rcpt["rcpt"] else (rcpt["to"], "listed")
    return None


def _failed_recipients(msg: email.message.Message, text: str) -> dict[str, str | None]:
    """Each failed recipient of a plain-text bounce, with the reply its own paragraph
    quotes (None: it quotes none): X-Failed-Recipients, else those the text names in a
    format above (an Original-Recipient only when it names no other), never one of our
    own addresses. An address merely mentioned is not taken: no recipient is better than
    the wrong one (the sender, suppressed for a failure that was not theirs)."""
    own = _own_addresses(msg, text)
    named = [_named_recipient(line.rstrip()) for line in text.splitlines()]
    lines = [line.strip() for line in text.splitlines()]
    failed: dict[str, str] = {}  # lower case: as first written
    originals: dict[str, str] = {}
    paragraphs: dict[str, list[str]] = {}
    for start, found in enumerate(named):
        if found is None or found[0].lower() in own:
            continue
        address, how = found[0].lower(), found[1]
        end = start + 1  # a paragraph: to a blank line or the next line naming a recipient
        while end < len(lines) and lines[end] and named[end] is None:
            if how == "rcpt" and _COMMAND_LINE.match(lines[end]):
                break
            end += 1
        if how == "rcpt" and not any(_REPLY_LINE.search(line) for line in lines[start:end]):
            continue  # a RCPT the receiver accepted
        (originals if how == "original" else failed).setdefault(address, found[0])
        paragraphs.setdefault(address, []).extend(lines[start:end])
    # A comma-separated list, each item one address taken whole (as Final-Recipient is).
    header = ",".join(
        _utf8(str(v)) for k, v in msg.raw_items() if k.lower() == "x-failed-recipients"
    )
    listed = [a for item in header.split(",") if (a := _typed_address(item)) is not None]
    chosen = {a.lower(): a for a in listed} or failed or originals
    return {spelt: _quoted_reply(paragraphs.get(key, [])) for key, spelt in chosen.items()}


def _check_count(recipients: int) -> None:
    if recipients > MAX_RECIPIENTS:
        raise MalformedReportError(
            "too_many_recipients", f"a bounce naming more than {MAX_RECIPIENTS} recipients"
        )


def parse_bounce(raw: bytes) -> BounceMessage:
    """Read one bounce; see the module's docstring for the refusals."""
    try:
        return _parse_bounce(raw)
    except RecursionError:  # the standard library parses MIME nesting recursively
        raise MalformedReportError("too_deep", "MIME parts nested too deep to read") from None


def _parse_bounce(raw: bytes) -> BounceMessage:
    if not raw.strip():
        raise MalformedReportError("empty", "the message is empty")
    msg = email.message_from_bytes(raw, policy=compat32)
    if not msg.keys():
        raise MalformedReportError("undecodable", "no RFC 5322 header fields")
    # The key of a message however it came (monitor.ingest.digest).
    sha = message_key(raw)
    if msg.get_content_type() == "multipart/report":
        report_type = (msg.get_param("report-type") or "").__str__().lower()
        if report_type == "feedback-report":
            raise NotBounceError("feedback_report", "an ARF feedback report, not a bounce")
    context = _reply_lines(msg)
    blocks = next(
        (_field_blocks(p) for p in msg.walk() if p.get_content_type() in _DSN_TYPES), None
    )
    if blocks is None:
        blocks = _text_blocks(_human_text(msg))  # a DSN whose MIME structure is broken
    standard = _standard(blocks or [], context)
    if standard is not None and (standard[0] or any(_has_action(b) for b in blocks or [])):
        recipients, reporting = standard
        if not recipients:
            raise NotBounceError("delivered", "a delivery report without failures")
        _check_count(len(recipients))
        if all(
            r.recipient is None and r.status is None and r.diagnostic is None for r in recipients
        ):
            # "Action: failed" and nothing else: no one, no code, no reply to count.
            raise MalformedReportError("no_recipient", "a bounce naming no recipient or reason")
        return BounceMessage(sha, tuple(recipients), _original_headers(msg), reporting, True)
    if not _looks_like_bounce(msg):
        if _is_autoreply(msg):
            raise NotBounceError("autoreply", "an automatic reply, not a bounce")
        raise NotBounceError("not_a_bounce", "not a bounce message")
    text = _human_text(msg)
    delayed = bool(_DELAY_TEXT.search(text) or _DELAY_TEXT.search(str(msg.get("Subject", ""))))
    replies = _failed_recipients(msg, text)
    if not replies and not any(_REPLY_LINE.search(line) for line in text.splitlines()):
        # No one and no receiver's reply: "Sorry." under a bounce's subject, a person's
        # mail, a broken message. The text alone is nothing to count.
        raise MalformedReportError("no_recipient", "a bounce naming no recipient or reason")
    named: dict[str | None, str | None] = {None: None}
    if replies:
        _check_count(len(replies))
        named = dict(replies.items())
    writer = _sender_domain(msg)
    # A recipient's own paragraph quotes its reply; with several recipients the bounce's
    # whole text is read for one only when it gives none (another's reply is not theirs).
    shared = len(named) == 1
    return BounceMessage(
        sha,
        tuple(
            BounceRecipient(
                a,
                delayed,
                None,
                own or context,
                None,
                context if shared else own or context,
                writer,
            )
            for a, own in named.items()
        ),
        _original_headers(msg),
        None,
        False,
    )


def _sender_domain(msg: email.message.Message) -> str | None:
    found = _ADDRESS.search(str(msg.get("From", "")))
    return found.group(0).rpartition("@")[2] if found else None


def classify_recipient(recipient: BounceRecipient) -> Classification:
    """The class of one recipient's failure: its diagnostic, else the bounce's own text."""
    domain = (recipient.recipient or "").rpartition("@")[2] or None
    found = classify_reply(
        recipient.diagnostic or "",
        recipient_domain=domain,
        remote_host=recipient.remote_mta,
        status=recipient.status,
    )
    if recipient.reporting_mta and found.provider != "other":
        # A signature in a text the bounce's writer composed names the writer (Gmail's
        # own "could not connect ... support.google.com"), not the receiver: trust it
        # only when the receiving host or domain does not contradict it.
        known = provider_of(remote_host=recipient.remote_mta, recipient_domain=domain)
        writer = provider_of(remote_host=recipient.reporting_mta)
        if known == "other" and writer == found.provider:
            found = dataclasses.replace(found, provider="other")
    if found.cls is BounceClass.UNCLASSIFIED and recipient.context:
        again = classify_reply(
            recipient.context,
            recipient_domain=domain,
            remote_host=recipient.remote_mta,
            status=recipient.status,
        )
        if again.cls is not BounceClass.UNCLASSIFIED:
            # The bounce's own text names its writer (a Gmail DSN about another site
            # says "google"): the provider stays the one the reply and hosts give.
            return dataclasses.replace(again, provider=found.provider)
    return found
