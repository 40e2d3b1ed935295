"""Bulk-sender compliance scorecard: the Gmail, Yahoo and Microsoft requirements DNS can show.

One row per requirement, each ``pass``/``fail``/``unknown`` with the providers
it comes from (domain-facts §6: Gmail's and Yahoo's sender guidelines,
Microsoft's high-volume sender rules). The feedback rows (spam rate, one-click
unsubscribe) are added by the feedback ingestion later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.host import PtrResult
from checks.spf import SpfResult
from checks.status import CheckStatus

__all__ = ["ComplianceRow", "RowStatus", "Scorecard", "build_scorecard"]

GMAIL, YAHOO, MICROSOFT = "gmail", "yahoo", "microsoft"


class RowStatus(StrEnum):
    PASS = "pass"  # noqa: S105  # a row status, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    requirement: str
    providers: tuple[str, ...]
    status: RowStatus
    detail: str


@dataclass(frozen=True, slots=True)
class Scorecard:
    domain: str
    rows: tuple[ComplianceRow, ...]

    @property
    def compliant(self) -> bool | None:
        """True when every row passes, False when one fails, None when only unknowns block."""
        statuses = {r.status for r in self.rows}
        if RowStatus.FAIL in statuses:
            return False
        return None if RowStatus.UNKNOWN in statuses else True


def build_scorecard(
    domain: str,
    *,
    spf: SpfResult,
    dmarc: DmarcResult,
    dkim: Sequence[DkimResult],
    ptr: Sequence[PtrResult],
) -> Scorecard:
    """Score what the authentication checks found against the providers' requirements."""
    return Scorecard(
        domain,
        (
            _spf_passes(spf),
            _dkim_present(dkim),
            _dkim_key_size(dkim),
            _dmarc_published(dmarc),
            _alignment_possible(dmarc, dkim),
            _fcrdns(ptr),
        ),
    )


def _row(
    requirement: str, providers: tuple[str, ...], status: RowStatus, detail: str
) -> ComplianceRow:
    return ComplianceRow(requirement, providers, status, detail)


def _spf_passes(spf: SpfResult) -> ComplianceRow:
    name, who = "spf_passes_for_sending_ips", (GMAIL, YAHOO, MICROSOFT)
    if spf.status is CheckStatus.UNKNOWN:
        return _row(name, who, RowStatus.UNKNOWN, "the SPF lookup failed")
    if spf.record is None:
        return _row(name, who, RowStatus.FAIL, "no SPF record")
    if not spf.ip_results:
        return _row(name, who, RowStatus.UNKNOWN, "no sending IPs configured to evaluate")
    failing = sorted(ip for ip, result in spf.ip_results.items() if result != "pass")
    if any(spf.ip_results[ip] == "temperror" for ip in failing):
        return _row(name, who, RowStatus.UNKNOWN, "SPF evaluation hit a DNS error")
    if failing:
        return _row(name, who, RowStatus.FAIL, f"SPF does not pass for {', '.join(failing)}")
    return _row(name, who, RowStatus.PASS, f"SPF passes for {len(spf.ip_results)} sending IP(s)")


def _usable_keys(dkim: Sequence[DkimResult]) -> list[DkimResult]:
    return [d for d in dkim if d.key_type is not None and d.status is not CheckStatus.FAIL]


def _dkim_present(dkim: Sequence[DkimResult]) -> ComplianceRow:
    name, who = "dkim_key_published", (GMAIL, YAHOO, MICROSOFT)
    if not dkim:
        return _row(name, who, RowStatus.UNKNOWN, "no DKIM selectors configured")
    if _usable_keys(dkim):
        return _row(name, who, RowStatus.PASS, "a valid DKIM key is published")
    if any(d.status is CheckStatus.UNKNOWN for d in dkim):
        return _row(name, who, RowStatus.UNKNOWN, "a DKIM key lookup failed")
    return _row(name, who, RowStatus.FAIL, "no configured selector has a valid key")


def _dkim_key_size(dkim: Sequence[DkimResult]) -> ComplianceRow:
    name, who = "dkim_key_at_least_1024_bits", (GMAIL, YAHOO)
    usable = _usable_keys(dkim)
    if not usable:
        return _row(name, who, RowStatus.UNKNOWN, "no valid DKIM key to measure")
    short = [d.selector for d in usable if d.key_type == "rsa" and (d.key_bits or 0) < 1024]
    if short:
        return _row(name, who, RowStatus.FAIL, f"RSA keys under 1024 bits: {', '.join(short)}")
    return _row(
        name, who, RowStatus.PASS, "every published key is at least 1024-bit RSA or ed25519"
    )


def _dmarc_published(dmarc: DmarcResult) -> ComplianceRow:
    name, who = "dmarc_policy_published", (GMAIL, YAHOO, MICROSOFT)
    if dmarc.status is CheckStatus.UNKNOWN:
        return _row(name, who, RowStatus.UNKNOWN, "the DMARC lookup failed")
    if dmarc.policy is None:
        return _row(
            name, who, RowStatus.FAIL, "no valid DMARC record (at least p=none is required)"
        )
    return _row(name, who, RowStatus.PASS, f"p={dmarc.policy} at {dmarc.policy_domain}")


def _alignment_possible(dmarc: DmarcResult, dkim: Sequence[DkimResult]) -> ComplianceRow:
    name, who = "dmarc_alignment_possible", (GMAIL, YAHOO, MICROSOFT)
    aligned = [k for k, v in dmarc.alignment.items() if v == "aligned"]
    if aligned:
        return _row(name, who, RowStatus.PASS, f"aligned identities: {', '.join(sorted(aligned))}")
    if _usable_keys(dkim):
        # A key under <selector>._domainkey.<domain> signs with d=<domain>: aligned by construction.
        return _row(name, who, RowStatus.PASS, "DKIM keys under the From domain align (d= = From)")
    if any(v == "unknown" for v in dmarc.alignment.values()):
        return _row(name, who, RowStatus.UNKNOWN, "an identity's alignment could not be told")
    if dmarc.alignment:
        return _row(name, who, RowStatus.FAIL, "no configured SPF or DKIM identity aligns")
    return _row(name, who, RowStatus.UNKNOWN, "no sending identities or DKIM keys to judge")


def _fcrdns(ptr: Sequence[PtrResult]) -> ComplianceRow:
    name, who = "fcrdns_for_sending_ips", (GMAIL, YAHOO)
    if not ptr:
        return _row(name, who, RowStatus.UNKNOWN, "no sending IPs configured")
    failing = sorted(p.ip for p in ptr if p.forward_confirmed is False)
    if failing:
        return _row(name, who, RowStatus.FAIL, f"no forward-confirmed PTR for {', '.join(failing)}")
    if any(p.forward_confirmed is None for p in ptr):
        return _row(name, who, RowStatus.UNKNOWN, "a PTR lookup failed")
    return _row(name, who, RowStatus.PASS, f"{len(ptr)} sending IP(s) have forward-confirmed PTRs")
