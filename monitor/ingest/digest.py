"""The key of a mail message however it reached delivermon: the same report or bounce
posted over HTTP, read from a file and delivered to an IMAP mailbox counts once.

Two things differ between those copies and are left out of the key: line endings (IMAP
serves CRLF, a file or a pipe often holds LF) and the fields the receiving side adds to
the top-level header: trace fields (``Return-Path``, ``Received``, ``Delivered-To`` and
the like, RFC 5321 §4.4), its verdicts (``Received-SPF``, RFC 7208 §9.1;
``Authentication-Results``, RFC 8601; ARC, RFC 8617) and its filters' annotations
(SpamAssassin's ``X-Spam*``, rspamd's ``X-Rspamd-*`` and ``X-Spamd-*``, Exchange
Online's ``X-MS-*``, ``X-Microsoft-*``, ``X-Forefront-*`` and ``X-EOP*``, Gmail's
``X-Received``, ``X-Google-*`` and ``X-Gm-*``, Yahoo's ``X-Apparently-To``,
``X-Yahoo-*`` and ``X-YMail-*``, AOL's ``X-AOL-*``, virus scanners' ``X-Virus-*``,
amavis's ``X-Amavis-*`` and ``X-Quarantine-ID``, postgrey's ``X-Greylist``, the gateways'
``X-Proofpoint-*``, ``X-Mimecast-*``, ``X-Barracuda-*``, ``X-IronPort-*``, ``X-Sophos-*``,
``X-Cloudmark-*`` and ``X-MailScanner-*``, Sieve's ``X-Sieve``), what forwarding adds
(``X-Forwarded-*``, and the ``Resent-*`` fields of RFC 5322 §3.6.6), and an mbox
``From `` envelope line in the header block (local delivery and pipes write one on top).
Two reports never differ only in those. A message without such fields keys as before they
were left out.

Not left out: ``DKIM-Signature`` (a forwarder's signature on top cannot be told from the
reporter's own) and any field not listed here; a copy that differs in one counts again.
"""

from __future__ import annotations

import hashlib

__all__ = ["message_key"]

_TRACE = frozenset(
    {
        b"return-path",
        b"received",
        b"x-received",
        b"delivered-to",
        b"x-original-to",
        b"x-delivered-to",
        b"envelope-to",
        b"x-envelope-to",
        b"received-spf",
        b"authentication-results",
        b"x-original-authentication-results",
        b"x-apparently-to",
        b"x-quarantine-id",
        b"x-greylist",
        b"x-sieve",
    }
)
_ADDED_PREFIXES = (
    b"arc-",
    b"x-spam",
    b"x-rspamd-",
    b"x-virus-",
    b"x-ms-",
    b"x-microsoft-",
    b"x-forefront-",
    b"x-eop",
    b"x-google-",
    b"x-gm-",
    b"x-yahoo-",
    b"x-ymail-",
    b"x-aol-",
    b"x-amavis-",
    b"x-proofpoint-",
    b"x-mimecast-",
    b"x-barracuda-",
    b"x-ironport-",
    b"x-sophos-",
    b"x-cloudmark-",
    b"x-mailscanner",
    b"x-forwarded-",
    b"resent-",
)


def message_key(raw: bytes) -> str:
    """SHA-256 (hex) of ``raw`` with LF line endings and the top-level header block's
    trace fields (with their continuation lines) left out."""
    data = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    end = data.find(b"\n\n")
    head, rest = (data, b"") if end < 0 else (data[: end + 1], data[end + 1 :])
    kept: list[bytes] = []
    dropping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):  # a continuation of the field before
            if not dropping:
                kept.append(line)
            continue
        if line.startswith(b"From "):  # an mbox envelope line, not a header field
            dropping = True
            continue
        name, colon, _ = line.partition(b":")
        field = name.strip().lower()
        dropping = bool(colon) and (field in _TRACE or field.startswith(_ADDED_PREFIXES))
        if not dropping:
            kept.append(line)
    return hashlib.sha256(b"".join(kept) + rest).hexdigest()
