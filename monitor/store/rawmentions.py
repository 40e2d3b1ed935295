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
from collections.abc import Iterator

import idna

from monitor.model.privacy import normalise_address

__all__ = ["address_pattern", "names_address"]

# A character an address may continue with on either side (so "bob@example.org" is not
# found inside "jimbob@example.org" or "bob@example.org.uk"); non-ASCII bytes included.
_BEFORE = rb"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-\x80-\xff])"
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
    decoded, or in a base64 block (a forwarded original often is one)."""
    return any(pattern.search(text) for text in _texts(raw))


# A base64 body: two or more lines of base64 alphabet (MIME writes 76 a line).
_BASE64_BLOCK = re.compile(rb"(?:^[A-Za-z0-9+/]{16,}={0,2}\r?$\n?){2,}", re.MULTILINE)


def _texts(raw: bytes) -> Iterator[bytes]:
    yield raw
    yield quopri.decodestring(raw)
    for block in _BASE64_BLOCK.finditer(raw):
        try:
            yield binascii.a2b_base64(block.group(0))
        except binascii.Error:
            continue
