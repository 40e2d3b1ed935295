"""Sans-I/O DNSBL verdicts: listed, not listed, or unknown with a machine reason.

DESIGN.md §3: NXDOMAIN and NODATA are not listed; SERVFAIL, REFUSED, timeouts,
documented error codes (Spamhaus 127.255.255.0/24, DBL 127.0.1.255,
URIBL/SURBL 127.0.0.1) and any answer outside 127.0.0.0/8 are unknown. Every A
record of an answer is evaluated.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from checks.dns.outcome import Answer, DnsOutcome, NoData, NxDomain, Unknown, UnknownReason
from checks.dnsbl.catalogue import Match, ReturnCode, Severity, ZoneSpec

__all__ = [
    "ERROR_ANSWER_OUTSIDE_127",
    "ERROR_UNEXPECTED_CODE",
    "ERROR_ZONE_UNHEALTHY",
    "RESOLVER_REFUSAL_REASONS",
    "DnsblResult",
    "Verdict",
    "evaluate_answer",
    "unknown_reasons",
]

ERROR_ANSWER_OUTSIDE_127 = "answer_outside_127"
ERROR_UNEXPECTED_CODE = "unexpected_code"
ERROR_ZONE_UNHEALTHY = "zone_unhealthy"
# A list's documented answers that refuse the resolver, not the target: a public or
# shared resolver, too many queries from it, a query refused (DESIGN.md section 3).
RESOLVER_REFUSAL_REASONS = frozenset({"public_resolver", "excessive_queries", "query_refused"})
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_UNDOCUMENTED = "undocumented return code"


class Verdict(StrEnum):
    LISTED = "listed"
    NOT_LISTED = "not_listed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DnsblResult:
    """The verdict of one zone for one target.

    ``error`` is a short machine code when the verdict is unknown (a DNS
    failure such as ``timeout``, a list's error code such as
    ``public_resolver``, ``answer_outside_127``, ``unexpected_code`` or
    ``zone_unhealthy``). ``reason`` is the list's TXT text, for humans only.
    """

    zone: str
    verdict: Verdict
    codes: tuple[str, ...] = ()
    meanings: tuple[str, ...] = ()
    severity: Severity | None = None
    reason: str | None = None
    error: str | None = None


def evaluate_answer(zone: ZoneSpec, outcome: DnsOutcome) -> DnsblResult:
    """Turn the A-query outcome for one target in one zone into a verdict."""
    if isinstance(outcome, NxDomain | NoData):
        return DnsblResult(zone.id, Verdict.NOT_LISTED)
    if isinstance(outcome, Unknown):
        return DnsblResult(zone.id, Verdict.UNKNOWN, error=outcome.reason.value)
    return _evaluate_codes(zone, outcome)


def unknown_reasons(zone: ZoneSpec) -> tuple[str, ...]:
    """Every ``error`` an unknown verdict of ``zone`` can carry: the DNS failures, the
    zone's documented error codes, and the verdict's own reasons that apply to it."""
    reasons = [r.value for r in UnknownReason]
    reasons += [e.reason for e in zone.errors]
    reasons.append(ERROR_ANSWER_OUTSIDE_127)
    if zone.match is not Match.ANY:
        reasons.append(ERROR_UNEXPECTED_CODE)
    reasons.append(ERROR_ZONE_UNHEALTHY)
    return tuple(dict.fromkeys(reasons))


def _evaluate_codes(zone: ZoneSpec, answer: Answer) -> DnsblResult:
    codes = tuple(sorted(set(answer.records), key=_sort_key))
    for code in codes:
        try:
            address = ipaddress.IPv4Address(code)
        except ValueError:
            return DnsblResult(zone.id, Verdict.UNKNOWN, codes, error=ERROR_ANSWER_OUTSIDE_127)
        if address not in _LOOPBACK:
            return DnsblResult(zone.id, Verdict.UNKNOWN, codes, error=ERROR_ANSWER_OUTSIDE_127)
    errors = {e.value: e for e in zone.errors}
    for code in codes:
        if code in errors:
            # An error code anywhere in the answer makes the whole answer untrustworthy.
            error = errors[code]
            return DnsblResult(
                zone.id, Verdict.UNKNOWN, codes, (error.meaning,), error=error.reason
            )
    if zone.match is Match.ANY:
        return DnsblResult(
            zone.id, Verdict.LISTED, codes, ("listed",) * len(codes), severity=zone.severity
        )
    matched = [_match(zone, code) for code in codes]
    documented = [rc for rcs in matched for rc in rcs]
    if not documented:
        return DnsblResult(zone.id, Verdict.UNKNOWN, codes, error=ERROR_UNEXPECTED_CODE)
    # One entry per meaning (a bitmask code can carry several), in code order.
    meanings = tuple(
        dict.fromkeys(m for rcs in matched for m in ([rc.meaning for rc in rcs] or [_UNDOCUMENTED]))
    )
    listings = [rc for rc in documented if rc.listing]
    if not listings:
        return DnsblResult(zone.id, Verdict.NOT_LISTED, codes, meanings)
    severity = max((rc.severity or zone.severity for rc in listings), key=lambda s: s.rank)
    return DnsblResult(zone.id, Verdict.LISTED, codes, meanings, severity=severity)


def _match(zone: ZoneSpec, code: str) -> list[ReturnCode]:
    if zone.match is Match.BITMASK:
        last = int(code.rsplit(".", 1)[1])
        return [rc for rc in zone.codes if rc.bit is not None and last & rc.bit]
    return [rc for rc in zone.codes if rc.value == code]


def _sort_key(code: str) -> tuple[int, str]:
    try:
        return (int(ipaddress.IPv4Address(code)), code)
    except ValueError:
        return (-1, code)
