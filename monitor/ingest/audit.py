"""The original-message audit (issue 4 item 5): what a complained-about message carried.

From the original's headers alone (a header-only original is enough): one-click
unsubscribe per RFC 8058, whether a DKIM signature's ``h=`` covers it, and whether
its ``Feedback-ID`` follows Gmail's rules. Signatures are not verified here (no
DNS, and a header-only original has no body); ``h=`` coverage is what RFC 8058 §4
asks the signer for, and what senders get wrong.

Finding codes (stable, for metrics and tests) are the values of :class:`AuditFinding`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from monitor.ingest.arf import Headers

__all__ = [
    "FEEDBACK_ID_MAX_FIELDS",
    "ONE_CLICK",
    "SENDER_ID_LENGTH",
    "AuditFinding",
    "OriginalAudit",
    "audit_original",
    "check_feedback_id",
]

ONE_CLICK = "List-Unsubscribe=One-Click"
FEEDBACK_ID_MAX_FIELDS = 4
SENDER_ID_LENGTH = (5, 15)


class AuditFinding(StrEnum):
    LIST_UNSUBSCRIBE_MISSING = "audit.list_unsubscribe.missing"
    LIST_UNSUBSCRIBE_NO_HTTPS = "audit.list_unsubscribe.no_https"
    ONE_CLICK_MISSING = "audit.one_click.missing"
    ONE_CLICK_MALFORMED = "audit.one_click.malformed"
    ONE_CLICK_REPEATED = "audit.one_click.repeated"
    DKIM_UNSIGNED = "audit.dkim.unsigned"
    DKIM_NOT_COVERED = "audit.dkim.list_unsubscribe_not_covered"
    FEEDBACK_ID_MISSING = "audit.feedback_id.missing"
    FEEDBACK_ID_REPEATED = "audit.feedback_id.repeated"
    FEEDBACK_ID_TOO_MANY_FIELDS = "audit.feedback_id.too_many_fields"
    FEEDBACK_ID_EMPTY_FIELD = "audit.feedback_id.empty_field"
    FEEDBACK_ID_INVALID_CHARACTER = "audit.feedback_id.invalid_character"
    FEEDBACK_ID_SENDER_ID_LENGTH = "audit.feedback_id.sender_id_length"
    FEEDBACK_ID_REPEATED_IDENTIFIER = "audit.feedback_id.repeated_identifier"


@dataclass(frozen=True, slots=True)
class OriginalAudit:
    """What the complained-about message carried; ``findings`` explain every False."""

    has_list_unsubscribe_https: bool
    has_one_click_post: bool
    dkim_covers_list_unsubscribe: bool
    has_feedback_id: bool
    feedback_id_well_formed: bool
    findings: tuple[AuditFinding, ...]

    @property
    def one_click_compliant(self) -> bool:
        """RFC 8058 one-click: an HTTPS URI, the exact Post header, both covered by DKIM."""
        return (
            self.has_list_unsubscribe_https
            and self.has_one_click_post
            and self.dkim_covers_list_unsubscribe
        )


_BRACKETED = re.compile(r"<([^<>]*)>")


def _has_https_uri(values: tuple[str, ...]) -> bool:
    """RFC 2369 §2 / RFC 8058 §3.1: a ``<https://host/...>`` URI in List-Unsubscribe."""
    for value in values:
        for uri in _BRACKETED.findall(value):
            text = "".join(uri.split())  # RFC 2369 allows folding whitespace inside <>
            if text[:8].lower() != "https://":
                continue
            try:
                if urlsplit(text).hostname:
                    return True
            except ValueError:
                continue
    return False


def _signed_headers(signature: str) -> frozenset[str]:
    """Lower-case header names of a DKIM-Signature's ``h=`` tag (RFC 6376 §3.5)."""
    for tag in signature.split(";"):
        name, sep, value = tag.partition("=")
        if sep and name.strip() == "h":
            return frozenset(part.lower() for part in "".join(value.split()).split(":") if part)
    return frozenset()


_NEEDED = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
_FEEDBACK_ID_FIELD = re.compile(r"[\x21-\x39\x3b-\x7e]+")  # printable ASCII but ':'


def check_feedback_id(values: tuple[str, ...]) -> tuple[AuditFinding, ...]:
    """Problems of a message's Feedback-ID fields by Gmail's rules (none: well formed).

    Gmail's feedback loop ("Feedback-ID: a:b:c:SenderId"): exactly one Feedback-ID
    field; at most ``FEEDBACK_ID_MAX_FIELDS`` colon-separated identifiers, none
    empty, each printable ASCII without spaces; the last one, the SenderId, is
    mandatory and 5 to 15 characters long; a, b and c are optional; no identifier
    repeats across fields. (Surrounding whitespace is ignored.)
    """
    if not values:
        return (AuditFinding.FEEDBACK_ID_MISSING,)
    if len(values) > 1:
        return (AuditFinding.FEEDBACK_ID_REPEATED,)
    fields = values[0].strip().split(":")
    problems: list[AuditFinding] = []
    if len(fields) > FEEDBACK_ID_MAX_FIELDS:
        problems.append(AuditFinding.FEEDBACK_ID_TOO_MANY_FIELDS)
    if any(not part for part in fields):
        problems.append(AuditFinding.FEEDBACK_ID_EMPTY_FIELD)
    if any(part and not _FEEDBACK_ID_FIELD.fullmatch(part) for part in fields):
        problems.append(AuditFinding.FEEDBACK_ID_INVALID_CHARACTER)
    low, high = SENDER_ID_LENGTH
    if not low <= len(fields[-1]) <= high:
        problems.append(AuditFinding.FEEDBACK_ID_SENDER_ID_LENGTH)
    present = [part for part in fields if part]
    if len(set(present)) != len(present):
        problems.append(AuditFinding.FEEDBACK_ID_REPEATED_IDENTIFIER)
    return tuple(problems)


def audit_original(headers: Headers | None) -> OriginalAudit | None:
    """Audit the original message's headers; None when there is no original to audit
    (the report carried none, or it was redacted to nothing)."""
    if headers is None or not len(headers):
        return None
    findings: list[AuditFinding] = []

    unsubscribe = headers.get_all("List-Unsubscribe")
    https = _has_https_uri(unsubscribe)
    if not unsubscribe:
        findings.append(AuditFinding.LIST_UNSUBSCRIBE_MISSING)
    elif not https:
        findings.append(AuditFinding.LIST_UNSUBSCRIBE_NO_HTTPS)

    # RFC 8058 §3.1: exactly the key/value pair "List-Unsubscribe=One-Click".
    post = headers.get_all("List-Unsubscribe-Post")
    one_click = len(post) == 1 and post[0].strip() == ONE_CLICK
    if not post:
        findings.append(AuditFinding.ONE_CLICK_MISSING)
    elif len(post) > 1:
        findings.append(AuditFinding.ONE_CLICK_REPEATED)
    elif not one_click:
        findings.append(AuditFinding.ONE_CLICK_MALFORMED)

    # RFC 8058 §4: both fields in the h= tag of a DKIM-Signature.
    signatures = headers.get_all("DKIM-Signature")
    covered = any(_signed_headers(signature) >= _NEEDED for signature in signatures)
    if not signatures:
        findings.append(AuditFinding.DKIM_UNSIGNED)
    elif not covered:
        findings.append(AuditFinding.DKIM_NOT_COVERED)

    feedback_ids = headers.get_all("Feedback-ID")
    feedback_problems = check_feedback_id(feedback_ids)
    findings.extend(feedback_problems)

    return OriginalAudit(
        has_list_unsubscribe_https=https,
        has_one_click_post=one_click,
        dkim_covers_list_unsubscribe=covered,
        has_feedback_id=bool(feedback_ids),
        feedback_id_well_formed=not feedback_problems,
        findings=tuple(findings),
    )
