"""DMARC checks (RFC 9989, with RFC 7489 compatibility): discovery, record, policy, alignment.

Exceptions (misuse only; a bad record is findings, a DNS failure is a value)::

    ValueError
    ├── checks.domains.DomainError   check_dmarc: the domain or an identity is not a name
    └── InvalidUriError              parse_report_uri: an rua/ruf entry is not a usable URI
"""

from checks.dmarc.alignment import Alignment, Identity, evaluate_alignment, is_aligned
from checks.dmarc.check import DmarcPolicy, DmarcResult, check_dmarc
from checks.dmarc.discovery import (
    MAX_QUERIES,
    StepOutcome,
    TreeWalk,
    WalkStep,
    organizational_domain,
    policy_domain,
    select_record,
    tree_walk,
    walk_names,
)
from checks.dmarc.policy import EffectivePolicy, effective_policy, policy_findings
from checks.dmarc.record import DmarcRecord, Policy, is_dmarc_record, parse_record
from checks.dmarc.report_uri import (
    InvalidUriError,
    ReportUri,
    authorization_name,
    needs_authorization,
    parse_report_uri,
)

__all__ = [
    "MAX_QUERIES",
    "Alignment",
    "DmarcPolicy",
    "DmarcRecord",
    "DmarcResult",
    "EffectivePolicy",
    "Identity",
    "InvalidUriError",
    "Policy",
    "ReportUri",
    "StepOutcome",
    "TreeWalk",
    "WalkStep",
    "authorization_name",
    "check_dmarc",
    "effective_policy",
    "evaluate_alignment",
    "is_aligned",
    "is_dmarc_record",
    "needs_authorization",
    "organizational_domain",
    "parse_record",
    "parse_report_uri",
    "policy_domain",
    "policy_findings",
    "select_record",
    "tree_walk",
    "walk_names",
]
