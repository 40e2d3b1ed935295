"""Findings: stable dotted codes with a severity, a message and detail.

``FINDING_CODES`` is the registry every check draws its codes from; the docs
page ``docs/findings.md`` is generated from it (``python -m checks.findings``),
and a test keeps the two in sync.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = ["FINDING_CODES", "Finding", "FindingDoc", "FindingSeverity", "render_findings_doc"]


class FindingSeverity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: FindingSeverity
    message: str
    detail: Mapping[str, str | int | bool | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in FINDING_CODES:
            raise ValueError(f"unregistered finding code {self.code!r}")


@dataclass(frozen=True, slots=True)
class FindingDoc:
    meaning: str
    fix: str


_DNSBL_ERROR_FIX = (
    "Query the lists through a local, non-forwarding recursive resolver (e.g. unbound) "
    "whose address the list operator accepts, or use the operator's keyed service "
    "(Spamhaus DQS). Never through 1.1.1.1, 8.8.8.8 or an ISP's shared cache."
)

FINDING_CODES: Mapping[str, FindingDoc] = MappingProxyType(
    {
        "dnsbl.listed": FindingDoc(
            "The target is listed on a DNS blacklist. Severity follows the list's weight and "
            "the return code (e.g. a Spamhaus SBL listing is critical, PBL major).",
            "Find and stop the cause (compromised host, bad list source, missing "
            "authentication), then request removal at the list's delisting URL.",
        ),
        "dnsbl.lookup_failed": FindingDoc(
            "The list could not be asked: timeout, SERVFAIL, REFUSED or a network error. "
            "The verdict is unknown, never clean.",
            "Check that the configured resolver is reachable and can resolve the list's zone; "
            "a keyed zone answering SERVFAIL often means the key was switched off.",
        ),
        "dnsbl.zone_unhealthy": FindingDoc(
            "The zone failed its RFC 5782 self-test (its test point is not listed, or it "
            "lists the must-not-list point and so 'lists the world'). Its results are unknown.",
            "Check the resolver and the zone name; a list that lists everything is dead and "
            "should be removed from the configuration.",
        ),
        "dnsbl.error_code.public_resolver": FindingDoc(
            "The list answered with its 'query via public/open resolver' code "
            "(Spamhaus 127.255.255.254). This is not a listing.",
            _DNSBL_ERROR_FIX,
        ),
        "dnsbl.error_code.excessive_queries": FindingDoc(
            "The list answered with its 'excessive number of queries' code "
            "(Spamhaus 127.255.255.255). This is not a listing.",
            "Reduce the query rate (per-zone rate limits, a longer sweep interval) or move to "
            "the operator's paid or keyed service.",
        ),
        "dnsbl.error_code.typo_zone_name": FindingDoc(
            "The list answered with its 'typo in the DNSBL name' code (Spamhaus 127.255.255.252).",
            "Correct the zone name in the configuration.",
        ),
        "dnsbl.error_code.ip_sent_to_domain_list": FindingDoc(
            "A domain list answered that it was sent an IP address (Spamhaus DBL 127.0.1.255).",
            "Only query domain lists with domain names; check custom zone kinds.",
        ),
        "dnsbl.error_code.query_refused": FindingDoc(
            "The list refused the query (URIBL/SURBL 127.0.0.1), usually because the resolver is "
            "a public or large shared one. This is not a listing.",
            _DNSBL_ERROR_FIX,
        ),
        "dnsbl.error_code.invalid_key": FindingDoc(
            "The keyed service answered that the access key is invalid or expired.",
            "Check the key in the configuration ([dnsbl.keys]) and the account's status.",
        ),
        "dnsbl.error_code.answer_outside_127": FindingDoc(
            "The list answered with an address outside 127.0.0.0/8: an expired or hijacked "
            "list domain with a wildcard, or a resolver that rewrites NXDOMAIN. Not a listing.",
            "Remove the list if it is dead; use a resolver that does not rewrite NXDOMAIN.",
        ),
        "dnsbl.error_code.unexpected_code": FindingDoc(
            "The list answered with a return code its documentation does not define.",
            "Check the list's documentation; update the zone catalogue or custom zone codes.",
        ),
    }
)


def render_findings_doc() -> str:
    """Markdown for docs/findings.md."""
    lines = [
        "# Finding codes",
        "",
        "Generated from `checks/findings.py` by `python -m checks.findings > docs/findings.md`;",
        "do not edit by hand. Codes are stable: alerts, dashboards and scripts key on them.",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for code in sorted(FINDING_CODES):
        groups.setdefault(code.split(".", 1)[0], []).append(code)
    for group, codes in groups.items():
        lines += [f"## {group}", ""]
        for code in codes:
            doc = FINDING_CODES[code]
            lines += [f"### `{code}`", "", doc.meaning, "", f"**What to do:** {doc.fix}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_findings_doc())
