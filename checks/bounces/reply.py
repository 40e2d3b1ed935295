"""One SMTP reply as a receiver wrote it: its basic code, enhanced code and plain text.

Replies reach us in many wrappings: a DSN's ``Diagnostic-Code: smtp; 550-5.7.26 ...``
(RFC 3464 §2.3.6), Postfix's ``host mx[ip] said: 550 ...`` and Exim's ``SMTP error from
remote mail server after RCPT TO:<...>: 550 ...`` lead-ins, multi-line replies joined with
their ``550-5.7.1`` continuation prefixes (RFC 5321 §4.2.1) interleaved in the text. This
module finds the codes and gives the text without those prefixes, lower-cased and with
white space collapsed, for the classifier's patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Reply", "parse_reply"]

# A DSN diagnostic-type prefix (RFC 3464 §2.3.6: "smtp;", Postfix "X-Postfix;", "x-unix;").
_DIAG_TYPE = re.compile(r"^\s*(?:smtp|x-postfix|x-unix|x-local|x-exim)\s*;\s*", re.IGNORECASE)
# A basic reply code at the start of the reply or after a lead-in ("said:", "...: 550 ").
_BASIC = re.compile(r"(?:^|[\s:;(\[>])([245][0-5]\d)(?=[\s-]|$)")
# RFC 3463 enhanced code: class 2/4/5, subject 0-7, detail up to 3 digits; not part of a
# longer dotted number (Yahoo's "4.16.55.1", an IP address).
_ENHANCED = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?![\d]|\.\d)")
# Continuation and repeated prefixes inside a joined multi-line reply: "550-5.7.26 ",
# "421-x.x.xx ", "554 ", kept by whoever quoted the reply.
_PREFIX = re.compile(
    r"(?:(?<=\s)|^)[245]\d\d[-\s](?:[245x]\.[0-9x]{1,2}\.[0-9x]{1,3}(?=\s|$)\s*)?",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Reply:
    """The parts of one reply; ``text`` is lower-case, prefixes removed, spaces collapsed."""

    status: str | None  # basic code, "550"
    enhanced: str | None  # "5.7.26"
    text: str

    @property
    def permanent(self) -> bool | None:
        """5xx permanent, 4xx transient (RFC 5321 §4.2.1); the enhanced class when no
        basic code; None when neither says."""
        first = (self.status or self.enhanced or " ")[0]
        return {"5": True, "4": False}.get(first)


def parse_reply(raw: str) -> Reply:
    """Split a reply (any of the wrappings above) into codes and matching text."""
    body = _DIAG_TYPE.sub("", raw.replace("\r", " ").replace("\n", " "), count=1)
    # A failure's code, not a greeting quoted before it ("220-laposte 421 4.2.1 ..."):
    # the first 4xx/5xx code, else the first code.
    codes = list(_BASIC.finditer(body))
    basic = next((m for m in codes if m.group(1)[0] != "2"), codes[0] if codes else None)
    status = basic.group(1) if basic else None
    search_from = basic.start(1) if basic else 0
    enhanced_match = _ENHANCED.search(body, search_from) or _ENHANCED.search(body)
    enhanced = ".".join(enhanced_match.groups()) if enhanced_match else None
    text = _SPACE.sub(" ", _PREFIX.sub(" ", body)).strip().lower()
    return Reply(status, enhanced, text)
