"""Unwrap what carries a DMARC aggregate report: plain XML, gzip, zip, or a report e-mail.

Told by content (magic bytes), never by Content-Type or file name alone. Each layer is
capped: decompressed bytes and ratio (bombs), one XML member per zip (no path tricks,
no encryption, no archive inside an archive), MIME parts. Refusals are
``MalformedReportError`` (a report that cannot be read) or ``NotDmarcError`` (mail that
carries no report), each with a stable reason code.
"""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import IO

from monitor.ingest.dmarc.model import Limits
from monitor.ingest.errors import MalformedReportError, NotDmarcError

__all__ = ["Payload", "unwrap"]

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_STEP = 256 * 1024
_IN_STEP = 64 * 1024  # compressed bytes handed to zlib at a time
_RATIO_AFTER = 1024 * 1024  # below this much output the ratio says nothing
_NOT_REPORT_PARTS = frozenset({"text/plain", "text/html", "multipart/alternative"})


@dataclass(frozen=True, slots=True)
class Payload:
    """The XML of one report as a re-iterable chunk source, and what wrapped it."""

    container: str
    source: bytes  # the compressed (or plain) bytes the chunks come from
    kind: str  # xml | gzip | zip

    def chunks(self, limits: Limits) -> Iterator[bytes]:
        if self.kind == "gzip":
            return _gunzip(self.source, limits)
        if self.kind == "zip":
            return _unzip(self.source, limits)
        return _slices(self.source, limits)


def _refuse(reason: str, message: str) -> MalformedReportError:
    return MalformedReportError(reason, message)


def _kind(data: bytes) -> str | None:
    head = data[:4]
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head in (ZIP_MAGIC, _EMPTY_ZIP):
        return "zip"
    start = data[:64].removeprefix(b"\xef\xbb\xbf").lstrip()
    if start.startswith(b"<") or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "xml"
    return None


def unwrap(raw: bytes, limits: Limits) -> Payload:
    """The report inside ``raw``.

    Raises:
        MalformedReportError: empty, over ``max_input_bytes``, or an unusable archive.
        NotDmarcError: readable mail without a report, or bytes of no known format.
    """
    if not raw.strip():
        raise _refuse("empty", "no bytes")
    if len(raw) > limits.max_input_bytes:
        raise _refuse("too_large", "the input is larger than the limit")
    kind = _kind(raw)
    if kind is not None:
        payload = Payload(kind, raw, kind)
        _check_archive(payload, limits)
        return payload
    return _from_mail(raw, limits)


def _check_archive(payload: Payload, limits: Limits) -> None:
    """Zip members are checked before anything is parsed (one XML member, no tricks)."""
    if payload.kind == "zip":
        _zip_member(payload.source, limits)


def _from_mail(raw: bytes, limits: Limits) -> Payload:
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    except RecursionError:  # the standard library parses MIME nesting recursively
        raise _refuse("too_deep", "MIME parts nested too deep to read") from None
    if not message.keys():
        raise NotDmarcError("unrecognised_format", "neither XML, gzip, zip nor a mail message")
    if message.get_content_type() == "multipart/report":
        # A DSN, a feedback or failure report, a read receipt: never an aggregate report
        # mail (RFC 7489 §7.2.1.1), whatever its returned message carries.
        raise NotDmarcError("no_dmarc_report", "a multipart/report, not an aggregate report")
    parts = 0
    found: Payload | None = None
    for part in _own_parts(message):
        parts += 1
        if parts > limits.max_mime_parts:
            raise _refuse("too_many_parts", "more MIME parts than the limit")
        if part.is_multipart():
            continue
        data = _decoded(part)
        if not data:
            continue
        kind = _kind(data)
        if kind is None or (kind == "xml" and not _is_attachment_xml(part, data)):
            continue
        if found is not None:
            # RFC 7489 §7.2.1.1: "The aggregate report itself MUST be included in one of
            # the parts." Taking the first would drop the other's mail without a word.
            raise _refuse("several_reports", "the mail carries more than one report")
        found = Payload(f"mail+{kind}", data, kind)
    if found is None:
        raise NotDmarcError("no_dmarc_report", "the mail carries no DMARC aggregate report")
    _check_archive(found, limits)
    return found


def _own_parts(message: Message) -> Iterator[Message]:
    """``message.walk()`` without what is inside an attached message (``message/rfc822``:
    a bounce's returned mail, a forwarded one), whose attachments are not this mail's."""
    stack = [message]
    while stack:
        part = stack.pop()
        yield part
        if part.get_content_maintype() != "message" and part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(c for c in reversed(children) if isinstance(c, Message))


def _decoded(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError):  # a broken transfer encoding
        return b""
    return data if isinstance(data, bytes) else b""


def _is_attachment_xml(part: Message, data: bytes) -> bool:
    """An XML part is a report when it is not a text body, or when it is <feedback> itself."""
    if part.get_content_type() not in _NOT_REPORT_PARTS:
        return True
    return b"<feedback" in data[:4096]


# --- gzip ---------------------------------------------------------------------------


def _gunzip(data: bytes, limits: Limits) -> Iterator[bytes]:
    """Decompress gzip members with a cap on output and ratio.

    Concatenated members are legal (RFC 1952 §2.2); trailing whitespace after the last
    member is tolerated (Mimecast sends a CRLF there); anything else is refused. The
    input goes to zlib a slice at a time: what zlib has not used yet
    (``unconsumed_tail``) is a copy, small for a slice, as large as the input for all of it.
    """
    total = 0
    view = memoryview(data)
    start = 0
    first = True
    while start < len(view):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        at = start
        buffer: bytes | memoryview = b""
        while not decoder.eof:
            if not buffer:
                if at >= len(view):
                    break
                buffer = view[at : at + _IN_STEP]
                at += len(buffer)
            try:
                out = decoder.decompress(buffer, _STEP)
            except zlib.error:
                raise _refuse("gzip_corrupt", "the gzip data is corrupt") from None
            buffer = decoder.unconsumed_tail
            total += len(out)
            _check_size(total, len(data), limits)
            if out:
                if first and _kind(out) in ("gzip", "zip"):
                    raise _refuse("nested_archive", "an archive inside the gzip stream")
                first = False
                yield out
        while not decoder.eof:  # input used up: flush what is buffered
            out = decoder.decompress(b"", _STEP)
            if not out:
                raise _refuse("gzip_truncated", "the gzip data ends before its end marker")
            total += len(out)
            _check_size(total, len(data), limits)
            yield out
        start = at - len(decoder.unused_data)  # where the next member would begin
        if view[start : start + len(GZIP_MAGIC)] != GZIP_MAGIC:
            if bytes(view[start:]).strip():
                raise _refuse("gzip_trailing_data", "data after the gzip stream")
            return


def _check_size(total: int, compressed: int, limits: Limits) -> None:
    if total > limits.max_xml_bytes:
        raise _refuse("too_large", "the decompressed report is larger than the limit")
    if total > _RATIO_AFTER and total > limits.max_ratio * compressed:
        raise _refuse("compression_ratio", "the decompression ratio is over the limit")


# --- zip ----------------------------------------------------------------------------


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _refuse("zip_corrupt", "not a readable zip archive") from None


def _zip_member(data: bytes, limits: Limits) -> zipfile.ZipInfo:
    """The one report member of the archive.

    Raises:
        MalformedReportError: no member, several, a path trick, encryption, an archive
            inside, a member declared over the limits.
    """
    with _open_zip(data) as archive:
        infos = archive.infolist()
    if len(infos) > limits.max_zip_members:
        raise _refuse("zip_members", "the zip archive has more members than the limit")
    members = [
        info
        for info in infos
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not info.filename.rpartition("/")[2].startswith("._")
    ]
    if not members:
        raise _refuse("zip_empty", "the zip archive holds no file")
    if len(members) > 1:
        raise _refuse("zip_members", "the zip archive holds more than one file")
    info = members[0]
    name = info.filename
    if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or ":" in name:
        raise _refuse("zip_path", "a zip member name with a path trick")
    if info.flag_bits & 0x1:
        raise _refuse("zip_encrypted", "an encrypted zip member")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _refuse("zip_unsupported", "a zip compression method other than deflate")
    if name.lower().endswith((".gz", ".zip", ".tgz", ".tar", ".7z", ".bz2", ".xz")):
        raise _refuse("nested_archive", "an archive inside the zip archive")
    _check_size(info.file_size, max(info.compress_size, 1), limits)
    return info


# What zipfile raises on a damaged archive once its directory was read: a bad local
# header, a data offset before the file's start (ValueError: negative seek), a broken
# deflate stream or a short member.
_ZIP_BROKEN = (zipfile.BadZipFile, ValueError, OSError, zlib.error, EOFError)


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    try:
        return archive.open(info)
    except _ZIP_BROKEN:
        raise _refuse("zip_corrupt", "the zip member is corrupt") from None


def _unzip(data: bytes, limits: Limits) -> Iterator[bytes]:
    info = _zip_member(data, limits)
    total = 0
    with _open_zip(data) as archive, _open_member(archive, info) as member:
        first = True
        while True:
            try:
                out = member.read(_STEP)
            except _ZIP_BROKEN:
                raise _refuse("zip_corrupt", "the zip member is corrupt") from None
            if not out:
                return
            if first and _kind(out) in ("gzip", "zip"):
                raise _refuse("nested_archive", "an archive inside the zip archive")
            first = False
            total += len(out)
            _check_size(total, max(info.compress_size, 1), limits)
            yield out


def _slices(data: bytes, limits: Limits) -> Iterator[bytes]:
    if len(data) > limits.max_xml_bytes:
        raise _refuse("too_large", "the report is larger than the limit")
    for start in range(0, len(data), _STEP):
        yield data[start : start + _STEP]
