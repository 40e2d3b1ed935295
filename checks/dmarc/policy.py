"""Sans-I/O effective policy: p for the domain itself, sp/np for its subdomains (RFC 9989 §4.10.1).

``np`` inherits from ``sp``, ``sp`` from ``p``, a missing ``p`` reads as none. An
invalid p/sp/np turns the record into p=none when rua has a valid URI and
into no policy at all otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.dmarc.record import DmarcRecord, Policy, stronger
from checks.findings import Finding, FindingSeverity

__all__ = ["EffectivePolicy", "effective_policy", "policy_findings"]


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """What a record asks for: ``p`` (its own domain), ``sp`` (existing subdomains), ``np``."""

    p: Policy
    sp: Policy
    np: Policy

    def for_subdomain(self, *, exists: bool) -> Policy:
        return self.sp if exists else self.np


def effective_policy(record: DmarcRecord) -> EffectivePolicy | None:
    """The policies a receiver applies from ``record``; None when it applies no DMARC."""
    if record.invalid_policy:
        if not record.has_valid_rua:
            return None
        return EffectivePolicy(Policy.NONE, Policy.NONE, Policy.NONE)
    p = record.p or Policy.NONE
    sp = record.sp or p
    return EffectivePolicy(p, sp, record.np or sp)


def policy_findings(
    applied: Policy, record: DmarcRecord, subdomains: EffectivePolicy | None
) -> tuple[Finding, ...]:
    """Findings about the applied policy, test mode, reporting, and the subdomain policies."""
    findings: list[Finding] = []
    if applied is Policy.NONE:
        findings.append(
            Finding(
                "dmarc.policy_none",
                FindingSeverity.WARNING,
                "the policy for the domain is none: monitoring only, spoofed mail is delivered",
            )
        )
    if record.testing:
        findings.append(
            Finding(
                "dmarc.testing",
                FindingSeverity.WARNING,
                "t=y: receivers are asked not to apply the policy (test mode)",
            )
        )
    if not record.has_valid_rua:
        findings.append(
            Finding(
                "dmarc.no_rua",
                FindingSeverity.WARNING,
                "no valid rua URI: no aggregate reports will be sent",
            )
        )
    if subdomains is not None:
        findings.extend(_weaker_subdomains(subdomains))
    return tuple(findings)


def _weaker_subdomains(policy: EffectivePolicy) -> list[Finding]:
    weaker = [
        (tag, value)
        for tag, value in (("sp", policy.sp), ("np", policy.np))
        if stronger(policy.p, value)
    ]
    return [
        Finding(
            "dmarc.subdomain_policy_weaker",
            FindingSeverity.WARNING,
            f"{tag}={value} is weaker than p={policy.p} for {'' if tag == 'sp' else 'non-'}"
            "existent subdomains",
            {"tag": tag, "value": value.value, "p": policy.p.value},
        )
        for tag, value in weaker
    ]
