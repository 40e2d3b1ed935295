"""DNS blacklist checks (RFC 5782): catalogue, query names, verdicts, self-tests, sweeps."""

from checks.dnsbl.catalogue import (
    Catalogue,
    CatalogueError,
    Match,
    Severity,
    ZoneKind,
    ZoneSpec,
    generic_zone,
    load_catalogue,
    parse_zone,
)
from checks.dnsbl.selftest import Family, ZoneHealth, family_of, self_test_zone
from checks.dnsbl.sweep import (
    DnsblPolicy,
    DnsblTargetResult,
    applicable_zones,
    check_dnsbl,
    dnsbl_findings,
    sweep_dnsbl,
)
from checks.dnsbl.targets import Target, TargetError, TargetKind, parse_target
from checks.dnsbl.verdict import DnsblResult, Verdict, evaluate_answer

__all__ = [
    "Catalogue",
    "CatalogueError",
    "DnsblPolicy",
    "DnsblResult",
    "DnsblTargetResult",
    "Family",
    "Match",
    "Severity",
    "Target",
    "TargetError",
    "TargetKind",
    "Verdict",
    "ZoneHealth",
    "ZoneKind",
    "ZoneSpec",
    "applicable_zones",
    "check_dnsbl",
    "dnsbl_findings",
    "evaluate_answer",
    "family_of",
    "generic_zone",
    "load_catalogue",
    "parse_target",
    "parse_zone",
    "self_test_zone",
    "sweep_dnsbl",
]
