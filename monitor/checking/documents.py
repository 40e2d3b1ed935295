"""Explicit JSON serialisers for the checks' result values: the members of a ``check --json``
target (version 1), which are also what the daemon stores as each state's detail.

Every field is named here on purpose: renaming a field of a result dataclass does not
change the public document (``docs/schema/check-v1.schema.json`` pins it). Pure.
"""

from __future__ import annotations

from checks.compliance import Scorecard
from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import DnsblResult, ZoneHealth
from checks.findings import Finding
from checks.host import MxResult, PtrResult
from checks.spf import SpfResult
from checks.spf.tree import SpfNode

__all__ = [
    "JsonValue",
    "compliance_doc",
    "dkim_doc",
    "dmarc_doc",
    "dnsbl_doc",
    "finding_doc",
    "findings_doc",
    "mx_doc",
    "ptr_doc",
    "spf_doc",
    "zone_doc",
]

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def finding_doc(f: Finding) -> dict[str, JsonValue]:
    return {
        "code": f.code,
        "severity": f.severity.value,
        "message": f.message,
        "detail": {str(k): v for k, v in f.detail.items()},
    }


def findings_doc(findings: tuple[Finding, ...]) -> list[JsonValue]:
    return [finding_doc(f) for f in findings]


def dnsbl_doc(r: DnsblResult) -> dict[str, JsonValue]:
    """One DNSBL verdict (one zone for one target)."""
    return {
        "zone": r.zone,
        "verdict": r.verdict.value,
        "codes": list(r.codes),
        "meanings": list(r.meanings),
        "severity": r.severity.value if r.severity else None,
        "reason": r.reason,
        "error": r.error,
    }


def zone_doc(h: ZoneHealth) -> dict[str, JsonValue]:
    """One zone family's self-test."""
    return {
        "zone": h.zone,
        "family": h.family.value,
        "healthy": h.healthy,
        "reason": h.reason,
        "test_point": h.test_point,
    }


def _spf_node(n: SpfNode) -> dict[str, JsonValue]:
    return {
        "domain": n.domain,
        "record": n.record,
        "own_lookups": n.own_lookups,
        "total_lookups": n.total_lookups,
        "children": [_spf_node(c) for c in n.children],
        "error": n.error,
    }


def spf_doc(r: SpfResult) -> dict[str, JsonValue]:
    return {
        "domain": r.domain,
        "status": r.status.value,
        "record": r.record,
        "dns_lookups": r.dns_lookups,
        "void_lookups": r.void_lookups,
        "ip_results": {str(ip): str(result) for ip, result in r.ip_results.items()},
        "include_tree": _spf_node(r.include_tree) if r.include_tree is not None else None,
        "findings": findings_doc(r.findings),
    }


def dmarc_doc(r: DmarcResult) -> dict[str, JsonValue]:
    return {
        "domain": r.domain,
        "status": r.status.value,
        "record": r.record,
        "policy_domain": r.policy_domain,
        "organizational_domain": r.organizational_domain,
        "psl_organizational_domain": r.psl_organizational_domain,
        "policy": r.policy,
        "subdomain_policy": r.subdomain_policy,
        "nonexistent_policy": r.nonexistent_policy,
        "testing": r.testing,
        "rua": list(r.rua),
        "ruf": list(r.ruf),
        "alignment": {str(k): str(v) for k, v in r.alignment.items()},
        "tree_walk": list(r.tree_walk),
        "findings": findings_doc(r.findings),
    }


def dkim_doc(r: DkimResult) -> dict[str, JsonValue]:
    return {
        "selector": r.selector,
        "status": r.status.value,
        "record": r.record,
        "key_type": r.key_type,
        "key_bits": r.key_bits,
        "testing": r.testing,
        "cname_chain": list(r.cname_chain),
        "findings": findings_doc(r.findings),
    }


def mx_doc(r: MxResult) -> dict[str, JsonValue]:
    return {
        "domain": r.domain,
        "status": r.status.value,
        "hosts": [
            {
                "preference": h.preference,
                "name": h.name,
                "addresses": list(h.addresses),
                "resolved": h.resolved,
            }
            for h in r.hosts
        ],
        "null_mx": r.null_mx,
        "findings": findings_doc(r.findings),
    }


def ptr_doc(r: PtrResult) -> dict[str, JsonValue]:
    return {
        "ip": r.ip,
        "status": r.status.value,
        "names": list(r.names),
        "forward_confirmed": r.forward_confirmed,
        "confirmed_names": list(r.confirmed_names),
        "findings": findings_doc(r.findings),
    }


def compliance_doc(s: Scorecard) -> dict[str, JsonValue]:
    return {
        "domain": s.domain,
        "rows": [
            {
                "requirement": row.requirement,
                "providers": list(row.providers),
                "status": row.status.value,
                "detail": row.detail,
            }
            for row in s.rows
        ],
        "compliant": s.compliant,
    }
