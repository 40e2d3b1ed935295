"""Which stored raw reports name an address: the part of an erasure or an export that
the recipient links cannot reach.

A feedback report links the recipients its ``Original-Rcpt-To`` fields name; the raw
copy kept with ``store_raw`` may name more people (the original message's ``To:``, a
forwarded header, the body), and RFC 5965 makes ``Original-Rcpt-To`` optional. An
erasure or export of one person therefore also reads every raw copy, streamed a batch
at a time: an operation an operator runs per request, never on the ingest path.
"""

from __future__ import annotations

import base64
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
_AFTER = rb"(?!\.?[A-Za-z0-9_\-\x80-\xff])"


def address_pattern(address: str) -> re.Pattern[bytes]:
    """The address in the spellings a message may carry it in (any case; the domain as an
    A-label or in Unicode, UTF-8), as a whole address, never the tail of another."""
    normal = normalise_address(address)
    local, _, domain = normal.rpartition("@")
    domains = {domain}
    if "xn--" in domain:
        with contextlib.suppress(idna.IDNAError):
            domains.add(idna.decode(domain))
    # A local part may be written quoted ("jim"@example.org, RFC 5322 §3.4.1) unless
    # it is quoted already.
    locals_ = {local} if local.startswith('"') else {local, f'"{local}"'}
    forms = {f"{lp}@{d}" for lp in locals_ for d in domains}
    spelt = b"|".join(re.escape(f.encode("utf-8")) for f in sorted(forms))
    return re.compile(_BEFORE + b"(?:" + spelt + b")" + _AFTER, re.IGNORECASE)


def names_address(raw: bytes, pattern: re.Pattern[bytes]) -> bool:
    """Whether the message names the address: in its bytes as stored, quoted-printable
    decoded, in a base64 block (a forwarded original often is one), in RFC 2047 encoded
    words (``To: =?utf-8?B?...?=``) or in a base64 token (a link's ``?t=``), each also
    with URL escapes decoded, once or twice over (``?email=bob%40example.org``, a
    redirect's ``%2540``), and an escaped ``@`` or ``.`` read (HTML's ``&#64;``,
    ``&commat;``, JavaScript's ``\u0040``)."""
    return any(pattern.search(text) for text in _texts(raw))


# A base64 body: lines of base64 alphabet (MIME writes 76 a line).
_BASE64_BLOCK = re.compile(rb"(?:^[A-Za-z0-9+/]{16,}={0,2}\r?$\n?)+", re.MULTILINE)
# RFC 2047 encoded words; a run of them separated by white space is one text (§6.2).
_WORD = rb"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?="
_WORD_RUN = re.compile(_WORD + rb"(?:[ \t\r\n]*" + _WORD + rb")*")
_ONE_WORD = re.compile(rb"=\?[^?\s]+\?([BbQq])\?([^?\s]*)\?=")


# Escapes of "@" and "." in HTML (numeric and named character references) and in
# JavaScript or JSON strings.
_ESCAPED_AT = re.compile(rb"&#0*64;?|&#[xX]0*40;?|&commat;|\\u0040|\\x40", re.IGNORECASE)
_ESCAPED_DOT = re.compile(rb"&#0*46;?|&#[xX]0*2[eE];?|&period;|\\u002[eE]|\\x2[eE]")
# A base64 token of a link (standard or URL-safe alphabet): an address is 4 bytes at least.
_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{8,}={0,2}")
_URL_ROUNDS = 3  # URL escapes decoded this many times over at most


def _texts(raw: bytes) -> Iterator[bytes]:
    for text in _readable(raw):
        yield text
        if len(text) >= 8:
            # A link's base64 token, read in every decoded form (a quoted-printable or
            # base64 HTML body carries its links so: "?t=3D<token>" in QP).
            yield b"\n".join(_tokens(text))


def _readable(raw: bytes) -> Iterator[bytes]:
    for text in _decoded(raw):
        yield text
        unescaped = text
        for _ in range(_URL_ROUNDS):
            if b"%" not in unescaped:
                break
            once = urllib.parse.unquote_to_bytes(unescaped)
            if once == unescaped:
                break
            unescaped = once
            yield unescaped
        if b"&" in unescaped or b"\\" in unescaped:
            read = _ESCAPED_DOT.sub(b".", _ESCAPED_AT.sub(b"@", unescaped))
            if read != unescaped:
                yield read


def _tokens(raw: bytes) -> Iterator[bytes]:
    """What each base64 token of the message decodes to, in either alphabet; a token with
    "/" is also read piece by piece (a link's path: /u/<token>)."""
    for match in _TOKEN.finditer(raw):
        whole = match.group(0)
        pieces = (
            [whole, *(p for p in whole.split(b"/") if len(p) >= 8)] if b"/" in whole else [whole]
        )
        for piece in pieces:
            token = piece.rstrip(b"=")
            if len(token) % 4 == 1:
                continue
            padded = token + b"=" * (-len(token) % 4)
            with contextlib.suppress(binascii.Error, ValueError):
                yield base64.b64decode(padded.replace(b"-", b"+").replace(b"_", b"/"))


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
