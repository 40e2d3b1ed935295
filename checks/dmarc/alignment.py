"""Sans-I/O identifier alignment (RFC 9989 §3.2.x): configured SPF/DKIM identities vs From.

Relaxed alignment compares organisational domains found by the RFC 9989 tree
walk; strict compares the names exactly. The RFC 7489 (Public Suffix List)
answer is computed too, and a finding notes where the two standards disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from checks.domains import registered_domain
from checks.findings import Finding, FindingSeverity

__all__ = ["Alignment", "Identity", "evaluate_alignment", "is_aligned"]


class Alignment(StrEnum):
    ALIGNED = "aligned"
    NOT_ALIGNED = "not_aligned"
    UNKNOWN = "unknown"  # the identity's own tree walk failed


@dataclass(frozen=True, slots=True)
class Identity:
    """A configured sending identity: ``kind`` spf (MAIL FROM domain) or dkim (d= domain)."""

    kind: Literal["spf", "dkim"]
    domain: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.domain}"


def is_aligned(
    from_domain: str,
    identity: str,
    mode: Literal["r", "s"],
    *,
    from_org: str | None,
    identity_org: str | None,
) -> bool:
    """Strict: same name. Relaxed: same organisational domain (None never aligns)."""
    if from_domain == identity:
        return True
    if mode == "s":
        return False
    return from_org is not None and from_org == identity_org


def evaluate_alignment(
    from_domain: str,
    from_org: str,
    identities: tuple[Identity, ...],
    *,
    modes: Mapping[str, Literal["r", "s"]],
    orgs: Mapping[str, str | None],
) -> tuple[Mapping[str, str], tuple[Finding, ...]]:
    """Alignment of each identity with ``from_domain``, and the findings about it.

    ``modes`` maps "spf"/"dkim" to the record's aspf/adkim; ``orgs`` maps each
    identity domain to its tree-walk organisational domain (None or absent: its
    walk failed, so relaxed alignment is unknown).
    """
    results: dict[str, str] = {}
    findings: list[Finding] = []
    psl_from = registered_domain(from_domain)
    for identity in identities:
        mode = modes[identity.kind]
        org = orgs.get(identity.domain)
        if org is None and mode == "r" and identity.domain != from_domain:
            results[identity.key] = Alignment.UNKNOWN.value
            continue
        aligned = is_aligned(
            from_domain, identity.domain, mode, from_org=from_org, identity_org=org
        )
        results[identity.key] = (Alignment.ALIGNED if aligned else Alignment.NOT_ALIGNED).value
        psl_aligned = is_aligned(
            from_domain,
            identity.domain,
            mode,
            from_org=psl_from,
            identity_org=registered_domain(identity.domain),
        )
        findings.extend(_findings(identity, mode, aligned=aligned, psl_aligned=psl_aligned))
    # RFC 9989: DMARC passes when SPF *or* DKIM passes aligned. A misaligned identity is
    # an error only when no identity aligns (and none is still unknown); otherwise the
    # mail can pass through the aligned one and the misalignment is a warning.
    if Alignment.ALIGNED.value in results.values() or Alignment.UNKNOWN.value in results.values():
        findings = [
            dataclasses.replace(f, severity=FindingSeverity.WARNING)
            if f.code == "dmarc.identity_not_aligned"
            else f
            for f in findings
        ]
    return results, tuple(findings)


def _findings(
    identity: Identity, mode: Literal["r", "s"], *, aligned: bool, psl_aligned: bool
) -> list[Finding]:
    mode_name = "strict" if mode == "s" else "relaxed"
    tag = "aspf" if identity.kind == "spf" else "adkim"
    detail: dict[str, str | int | bool | None] = {
        "identity": identity.key,
        "mode": mode_name,
        "psl_aligned": psl_aligned,
    }
    findings: list[Finding] = []
    if not aligned:
        findings.append(
            Finding(
                "dmarc.identity_not_aligned",
                FindingSeverity.ERROR,
                f"{identity.kind} identity {identity.domain} does not align with the From "
                f"domain ({tag}={mode}, {mode_name})",
                detail,
            )
        )
    if aligned != psl_aligned:
        findings.append(
            Finding(
                "dmarc.psl_alignment_differs",
                FindingSeverity.INFO,
                f"{identity.key} is {'' if aligned else 'not '}aligned by the RFC 9989 tree "
                f"walk but {'' if psl_aligned else 'not '}by the RFC 7489 Public Suffix List",
                detail,
            )
        )
    return findings
