"""Which stored raw reports name an address: the part of an erasure or an export that
the recipient links cannot reach.

A feedback report links the recipients its ``Original-Rcpt-To`` fields name; the raw
copy kept with ``store_raw`` may name more people (the original message's ``To:``, a
forwarded header, the body), and RFC 5965 makes ``Original-Rcpt-To`` optional. An
erasure or export of one person therefore also reads every raw copy, streamed a batch
at a time: an operation an operator runs per request, never on the ingest path.
"""

from __future__ import annotations

import binascii
import contextlib
import quopri
import re
import urllib.parse
from collections.abc import Iterator

import idna

from monitor.model.privacy import normalise_address

__all__ = ["address_pattern", "names_address"]

# A character an address may continue with on either side (so "bob@example.org" is not
# found inside "jimbob@example.org" or "bob@example.org.uk"); non-ASCII bytes included.
# "/", "=" and "?" may be in a local part too, but before an address they are nearly
# always a link's path or query ("/u?email=bob@example.org", List-Unsubscribe's usual
# form): an address right after one of them counts as named.
_BEFORE = rb"(?<![A-Za-z0-9.!#$%&'*+^_`{|}~\-\x80-\xff])"
_AFTER = rb"(?!\.?[A-Za-z0-9\-\x80-\xff])"


def address_pattern(address: str) -> re.Pattern[bytes]:
    """The address in the spellings a message may carry it in (any case; the domain as an
    A-label or in Unicode, UTF-8), as a whole address, never the tail of another."""
    normal = normalise_address(address)
    local, _, domain = normal.rpartition("@")
    forms = {normal}
    if "xn--" in domain:
        with contextlib.suppress(idna.IDNAError):
            forms.add(f"{local}@{idna.decode(domain)}")
    spelt = b"|".join(re.escape(f.encode("utf-8")) for f in sorted(forms))
    return re.compile(_BEFORE + b"(?:" + spelt + b")" + _AFTER, re.IGNORECASE)


def names_address(raw: bytes, pattern: re.Pattern[bytes]) -> bool:
    """Whether the message names the address: in its bytes as stored, quoted-printable
    decoded, in a base64 block (a forwarded original often is one) or in RFC 2047
    encoded words (``To: =?utf-8?B?...?=``), each also with URL escapes decoded
    (``?email=bob%40example.org``)."""
    return any(pattern.search(text) for text in _texts(raw))


# A base64 body: lines of base64 alphabet (MIME writes 76 a line).
_BASE64_BLOCK = re.compile(rb"(?:^[A-Za-z0-9+/]{16,}={0,2}\r?$\n?)+", re.MULTILINE)
# RFC 2047 encoded words; a run of them separated by white space is one text (§6.2).
_WORD = rb"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?="
_WORD_RUN = re.compile(_WORD + rb"(?:[ \t\r\n]*" + _WORD + rb")*")
_ONE_WORD = re.compile(rb"=\?[^?\s]+\?([BbQq])\?([^?\s]*)\?=")


def _texts(raw: bytes) -> Iterator[bytes]:
    for text in _decoded(raw):
        yield text
        if b"%" in text:
            yield urllib.parse.unquote_to_bytes(text)


def _decoded(raw: bytes) -> Iterator[bytes]:
    yield raw
    yield quopri.decodestring(raw)
    for block in _BASE64_BLOCK.finditer(raw):
        try:
            yield binascii.a2b_base64(block.group(0))
        except binascii.Error:
            continue
    for run in _WORD_RUN.finditer(raw):
        yield b"".join(_word(m.group(1), m.group(2)) for m in _ONE_WORD.finditer(run.group(0)))


def _word(encoding: bytes, text: bytes) -> bytes:
    """One encoded word's bytes (in its charset: an address is ASCII or UTF-8 in it)."""
    if encoding in b"Qq":
        return quopri.decodestring(text, header=True)
    try:
        return binascii.a2b_base64(text + b"=" * (-len(text) % 4))
    except binascii.Error:
        return b""
