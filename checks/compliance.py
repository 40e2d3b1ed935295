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
    envelope_spf: Sequence[SpfResult] = (),
) -> Scorecard:
    """Score what the authentication checks found against the providers' requirements.

    ``envelope_spf`` are the SPF results of the configured envelope (MAIL FROM)
    domains: receivers evaluate SPF there, so when given they decide the SPF row.
    """
    return Scorecard(
        domain,
        (
            _spf_passes(envelope_spf or (spf,)),
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


def _spf_passes(results: Sequence[SpfResult]) -> ComplianceRow:
    """Every sending IP passes under (at least one of) the evaluated SPF domains, and every
    evaluated domain passes (at least one of) the sending IPs.

    Which IP sends with which envelope domain is not configured, so one IP failing at one
    domain fails nothing; a domain no sending IP passes at (no record, a permerror, no IP
    of ours) fails all mail sent with it. Decided from the per-IP results where there are
    some: a failed lookup in an unrelated branch does not make a certain result unknown.
    """
    name, who = "spf_passes_for_sending_ips", (GMAIL, YAHOO, MICROSOFT)
    where = ", ".join(r.domain for r in results)
    ips = sorted({ip for r in results for ip in r.ip_results})
    if not ips:
        if any(r.status is CheckStatus.UNKNOWN for r in results):
            return _row(name, who, RowStatus.UNKNOWN, f"the SPF lookup failed ({where})")
        if any(r.record is None for r in results):
            return _row(name, who, RowStatus.FAIL, f"no SPF record ({where})")
        return _row(name, who, RowStatus.UNKNOWN, "no sending IPs configured to evaluate")
    outcome = {ip: [r.ip_results[ip] for r in results if ip in r.ip_results] for ip in ips}
    failing = [ip for ip, got in outcome.items() if "pass" not in got]
    # An IP whose every result is certain and none a pass fails the row, whatever a DNS
    # error did to another IP; an IP left with a temperror could still pass.
    certain = [ip for ip in failing if "temperror" not in outcome[ip]]
    unusable, undecided = _domains_no_ip_passes(results)
    problems = []
    if certain:
        problems.append(f"SPF ({where}) does not pass for {', '.join(certain)}")
    if unusable:
        problems.append(f"no sending IP passes SPF at {', '.join(unusable)}")
    if problems:
        return _row(name, who, RowStatus.FAIL, "; ".join(problems))
    if failing or undecided:
        return _row(name, who, RowStatus.UNKNOWN, f"SPF evaluation hit a DNS error ({where})")
    return _row(name, who, RowStatus.PASS, f"SPF ({where}) passes for {len(ips)} sending IP(s)")


def _domains_no_ip_passes(results: Sequence[SpfResult]) -> tuple[list[str], list[str]]:
    """The evaluated domains where certainly no sending IP passes (with the reason), and
    those where none passed but a DNS error leaves it open."""
    unusable, undecided = [], []
    for r in results:
        got = set(r.ip_results.values())
        if "pass" in got:
            continue
        if "temperror" in got or (not got and r.status is CheckStatus.UNKNOWN):
            undecided.append(r.domain)
        elif got:
            unusable.append(f"{r.domain} ({'/'.join(sorted(got))})")
        elif r.record is None:
            unusable.append(f"{r.domain} (no record)")
    return unusable, undecided


def _usable_keys(dkim: Sequence[DkimResult]) -> list[DkimResult]:
    """Keys a receiver would verify with: parsed, not failing, not in testing mode.

    RFC 6376 §3.6.1: mail signed with a t=y key is treated like unsigned mail.
    """
    return [
        d
        for d in dkim
        if d.key_type is not None
        and d.key_bits is not None
        and d.status is not CheckStatus.FAIL
        and not d.testing
    ]


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
    """Every published RSA key is at least 1024 bits, whatever else is wrong with it."""
    name, who = "dkim_key_at_least_1024_bits", (GMAIL, YAHOO)
    measured = [d for d in dkim if d.key_bits is not None]
    short = [d.selector for d in measured if d.key_type == "rsa" and (d.key_bits or 0) < 1024]
    if short:
        return _row(name, who, RowStatus.FAIL, f"RSA keys under 1024 bits: {', '.join(short)}")
    if not measured:
        return _row(name, who, RowStatus.UNKNOWN, "no DKIM key to measure")
    if any(d.key_bits is None and d.status is CheckStatus.UNKNOWN for d in dkim):
        return _row(name, who, RowStatus.UNKNOWN, "a DKIM key lookup failed")
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
