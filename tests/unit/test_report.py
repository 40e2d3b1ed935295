"""Pins the `check --json` document (version 1) and the CLI exit-code rules
(monitor/checking/report.py, monitor/cli/report.py)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest

from checks.dnsbl.catalogue import Severity
from checks.dnsbl.selftest import Family, ZoneHealth
from checks.dnsbl.sweep import DnsblTargetResult, dnsbl_findings
from checks.dnsbl.targets import parse_target
from checks.dnsbl.verdict import DnsblResult, Verdict
from checks.findings import Finding, FindingSeverity
from monitor.checking.report import CheckReport, build_document, write_document
from monitor.cli.report import EXIT_OK, EXIT_PROBLEMS, EXIT_UNKNOWN, exit_code

CHECKED_AT = dt.datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=dt.UTC)
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
DNSBL_FIELDS = {"zone", "verdict", "codes", "meanings", "severity", "reason", "error"}

NOT_LISTED = DnsblResult("zen.spamhaus.org", Verdict.NOT_LISTED)
LISTED_CRITICAL = DnsblResult(
    "zen.spamhaus.org", Verdict.LISTED, ("127.0.0.2",), ("SBL",), Severity.CRITICAL, "see url"
)
LISTED_MINOR = DnsblResult(
    "psbl.surriel.com", Verdict.LISTED, ("127.0.0.2",), ("listed",), Severity.MINOR
)
LISTED_INFO = DnsblResult(
    "dnsbl-3.uceprotect.net", Verdict.LISTED, ("127.0.0.2",), ("listed",), Severity.INFO
)
UNKNOWN = DnsblResult("bl.spamcop.net", Verdict.UNKNOWN, error="timeout")


def target_result(text: str, *results: DnsblResult) -> DnsblTargetResult:
    return DnsblTargetResult(parse_target(text), results, dnsbl_findings(results))


def report(*targets: DnsblTargetResult, health: tuple[ZoneHealth, ...] = ()) -> CheckReport:
    return CheckReport(CHECKED_AT, "2026.11.28.1", health, targets)


# --- document shape ------------------------------------------------------------------------


def test_document_shape_version_1() -> None:
    doc = build_document(
        report(
            target_result("192.0.2.1", LISTED_CRITICAL, UNKNOWN),
            target_result("example.com", NOT_LISTED),
            health=(
                ZoneHealth("zen.spamhaus.org", Family.IPV4, True),
                ZoneHealth(
                    "zen.spamhaus.org", Family.IPV6, False, "test_point_not_listed", "::ffff:7f00:2"
                ),
            ),
        )
    )
    assert doc["version"] == 1
    assert RFC3339_UTC.match(doc["checked_at"])
    assert doc["catalogue_version"] == "2026.11.28.1"
    assert [(z["zone"], z["family"], z["healthy"]) for z in doc["zones"]] == [
        ("zen.spamhaus.org", "ipv4", True),
        ("zen.spamhaus.org", "ipv6", False),
    ]
    assert doc["zones"][1]["reason"] == "test_point_not_listed"
    ip, domain = doc["targets"]
    assert set(ip) >= {"target", "kind", "dnsbl", "findings"}
    assert (ip["target"], ip["kind"]) == ("192.0.2.1", "ip")
    assert (domain["target"], domain["kind"]) == ("example.com", "domain")
    for entry in ip["dnsbl"] + domain["dnsbl"]:
        assert set(entry) == DNSBL_FIELDS
    listed, unknown = ip["dnsbl"]
    assert listed == {
        "zone": "zen.spamhaus.org",
        "verdict": "listed",
        "codes": ["127.0.0.2"],
        "meanings": ["SBL"],
        "severity": "critical",
        "reason": "see url",
        "error": None,
    }
    assert (unknown["verdict"], unknown["error"], unknown["severity"]) == (
        "unknown",
        "timeout",
        None,
    )
    assert [f["code"] for f in ip["findings"]] == ["dnsbl.listed", "dnsbl.lookup_failed"]
    for finding in ip["findings"]:
        assert set(finding) == {"code", "severity", "message", "detail"}
        assert finding["severity"] in {"critical", "error", "warning", "info"}
    assert domain["findings"] == []


def test_document_checked_at_is_utc_with_z_suffix() -> None:
    doc = build_document(report())
    assert doc["checked_at"] == "2026-03-04T05:06:07Z"


def test_document_is_json_serialisable() -> None:
    doc = build_document(report(target_result("192.0.2.1", LISTED_CRITICAL, UNKNOWN)))
    assert json.loads(json.dumps(doc)) == doc


# --- exit codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ((), EXIT_OK),
        ((target_result("192.0.2.1", NOT_LISTED),), EXIT_OK),
        ((target_result("192.0.2.1", NOT_LISTED), target_result("example.com")), EXIT_OK),
        ((target_result("192.0.2.1", LISTED_CRITICAL),), EXIT_PROBLEMS),
        ((target_result("192.0.2.1", LISTED_MINOR),), EXIT_PROBLEMS),
        ((target_result("192.0.2.1", UNKNOWN, LISTED_MINOR),), EXIT_PROBLEMS),
        (
            (target_result("192.0.2.1", UNKNOWN), target_result("192.0.2.2", LISTED_CRITICAL)),
            EXIT_PROBLEMS,
        ),
        ((target_result("192.0.2.1", UNKNOWN, NOT_LISTED),), EXIT_UNKNOWN),
        ((target_result("192.0.2.1", LISTED_INFO),), EXIT_OK),
        ((target_result("192.0.2.1", LISTED_INFO, UNKNOWN),), EXIT_UNKNOWN),
    ],
    ids=[
        "no-targets-0",
        "all-not-listed-0",
        "target-without-results-0",
        "critical-listing-1",
        "minor-listing-1",
        "listing-beats-unknown-1",
        "listing-on-a-later-target-1",
        "unknown-only-3",
        "info-listing-alone-is-healthy-0",
        "info-listing-with-unknown-3",
    ],
)
def test_exit_code(targets: tuple[DnsblTargetResult, ...], expected: int) -> None:
    assert exit_code(report(*targets)) == expected


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (FindingSeverity.CRITICAL, EXIT_PROBLEMS),
        (FindingSeverity.ERROR, EXIT_PROBLEMS),
        (FindingSeverity.WARNING, EXIT_OK),
        (FindingSeverity.INFO, EXIT_OK),
    ],
    ids=["critical-finding-1", "error-finding-1", "warning-finding-0", "info-finding-0"],
)
def test_exit_code_follows_finding_severity_without_listing(
    severity: FindingSeverity, expected: int
) -> None:
    finding = Finding("dnsbl.lookup_failed", severity, "x", {"zone": "bl.example.net"})
    target = DnsblTargetResult(parse_target("192.0.2.1"), (NOT_LISTED,), (finding,))
    assert exit_code(report(target)) == expected


def test_streamed_json_equals_the_document_built_in_memory() -> None:
    full = report(
        target_result("192.0.2.1", LISTED_CRITICAL, UNKNOWN, NOT_LISTED),
        target_result("bücher.example", NOT_LISTED),
        target_result("192.0.2.2", NOT_LISTED, LISTED_MINOR, LISTED_INFO),
        health=(ZoneHealth("zen.spamhaus.org", Family.IPV6, False, "timeout", "::ffff:7f00:2"),),
    )
    out = io.StringIO()
    write_document(full, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(build_document(full)))


def test_streamed_json_of_no_targets() -> None:
    out = io.StringIO()
    write_document(report(), out)
    assert json.loads(out.getvalue())["targets"] == []
