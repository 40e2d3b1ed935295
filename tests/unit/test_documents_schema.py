"""The check --json v1 document and the API target document validate against the schemas
shipped in docs/schema/, with every member present; and the schemas refuse what they must."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from checks.compliance import build_scorecard
from checks.dnsbl.selftest import Family, ZoneHealth
from checks.dnsbl.sweep import DnsblTargetResult, dnsbl_findings
from checks.dnsbl.targets import parse_target
from checks.dnsbl.verdict import DnsblResult, Verdict
from monitor.checking.report import CheckReport, build_document, target_document_from_states
from monitor.checking.states import CheckName, states_from_dnsbl
from monitor.checking.table import states_of

from . import metrics_view as mv

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schema"


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


CHECK = validator("check-v1.schema.json")
TARGET = validator("target-v1.schema.json")

LISTED = DnsblResult("zen.spamhaus.org", Verdict.LISTED, ("127.0.0.2",), ("SBL",), None, "x")
UNKNOWN = DnsblResult("bl.spamcop.net", Verdict.UNKNOWN, error="timeout")


def full_report() -> CheckReport:
    """An IP and a domain with every member of the table filled in."""
    card = build_scorecard(
        mv.DOMAIN,
        spf=mv.SPF,
        dmarc=mv.DMARC,
        dkim=[mv.DKIM_RSA, mv.DKIM_UNKNOWN],
        ptr=[mv.PTR_OK],
        envelope_spf=(mv.SPF,),
    )
    results: dict[str, dict[CheckName, object]] = {
        mv.IP: {CheckName.PTR: mv.PTR_OK},
        mv.DOMAIN: {
            CheckName.SPF: mv.SPF,
            CheckName.ENVELOPE_SPF: (mv.SPF,),
            CheckName.DMARC: mv.DMARC,
            CheckName.DKIM: (mv.DKIM_RSA, mv.DKIM_UNKNOWN),
            CheckName.MX: mv.MX,
            CheckName.COMPLIANCE: card,
        },
    }
    targets = tuple(
        DnsblTargetResult(parse_target(t), rs, dnsbl_findings(rs))
        for t, rs in ((mv.IP, (LISTED, UNKNOWN)), (mv.DOMAIN, ()))
    )
    health = (ZoneHealth("zen.spamhaus.org", Family.IPV4, True),)
    return CheckReport(mv.AT, "2026.11.28.1", health, targets, results)


def test_a_full_check_document_validates_with_every_member() -> None:
    doc = build_document(full_report())
    CHECK.validate(doc)
    ip, domain = doc["targets"]
    assert set(ip) == {"target", "kind", "dnsbl", "ptr", "findings"}
    assert set(domain) == {
        "target",
        "kind",
        "dnsbl",
        "spf",
        "envelope_spf",
        "dmarc",
        "dkim",
        "mx",
        "compliance",
        "findings",
    }


def test_the_api_document_from_states_validates_and_equals_the_check_target() -> None:
    report = full_report()
    doc = build_document(report)
    for target, expected in zip(report.targets, doc["targets"], strict=True):
        text = target.target.text
        states = [
            *states_of(text, report.results.get(text, {}), mv.AT),
            *states_from_dnsbl([target], mv.AT),
        ]
        api = target_document_from_states(
            text,
            target.target.kind,
            states[::-1],  # the store's order is not the document's
            zones=[r.zone for r in target.results],
            plan=None,
        )
        TARGET.validate(api)
        assert api.pop("checked_at") == "2025-03-01T12:00:00Z"
        assert api == expected


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("version",), 2),
        (("targets", 0, "dnsbl", 0, "verdict"), "clean"),
        (("targets", 1, "spf", "status"), "good"),
        (("targets", 1, "dmarc", "policy"), "monitor"),
        (("targets", 0, "findings", 0, "severity"), "fatal"),
    ],
    ids=["version", "verdict", "spf-status", "dmarc-policy", "finding-severity"],
)
def test_the_schema_refuses_values_outside_the_contract(path: tuple[Any, ...], value: Any) -> None:
    doc = build_document(full_report())
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        CHECK.validate(doc)


def test_the_schema_refuses_an_unknown_member_and_a_domain_member_on_an_ip() -> None:
    doc = build_document(full_report())
    doc["targets"][0]["extra"] = 1
    with pytest.raises(ValidationError):
        CHECK.validate(doc)
    doc = build_document(full_report())
    doc["targets"][0]["spf"] = doc["targets"][1]["spf"]
    with pytest.raises(ValidationError):
        CHECK.validate(doc)


def test_checked_at_is_an_rfc3339_instant() -> None:
    doc = build_document(full_report())
    assert dt.datetime.fromisoformat(doc["checked_at"].replace("Z", "+00:00")) == mv.AT
