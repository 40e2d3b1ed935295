"""Pins DNSBL verdicts (evaluate_answer) and the findings they produce (dnsbl_findings).

DESIGN.md §3: NXDOMAIN/NODATA is not listed; DNS failures, documented error codes and
answers outside 127.0.0.0/8 are unknown with a machine reason; every A record counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from checks.dns.outcome import (
    Answer,
    DnsOutcome,
    NoData,
    NxDomain,
    RdataType,
    Unknown,
    UnknownReason,
)
from checks.dnsbl.catalogue import Severity, ZoneSpec, generic_zone, load_catalogue
from checks.dnsbl.sweep import dnsbl_findings
from checks.dnsbl.verdict import DnsblResult, Verdict, evaluate_answer
from checks.findings import FindingSeverity

CATALOGUE = load_catalogue()
NAME = "2.0.0.127.zone.example"


def zone(zone_id: str) -> ZoneSpec:
    spec = CATALOGUE.get(zone_id)
    assert spec is not None, zone_id
    return spec


def meaning(zone_id: str, *, value: str | None = None, bit: int | None = None) -> str:
    """The catalogue's meaning of one code, so the table does not restate the catalogue's prose."""
    for code in zone(zone_id).codes:
        if (value is not None and code.value == value) or (bit is not None and code.bit == bit):
            return code.meaning
    raise AssertionError(f"{zone_id} has no code {value or bit}")


def code_severity(zone_id: str, value: str) -> Severity:
    spec = zone(zone_id)
    for code in spec.codes:
        if code.value == value:
            return code.severity or spec.severity
    raise AssertionError(f"{zone_id} has no code {value}")


def a(*records: str) -> Answer:
    return Answer(NAME, RdataType.A, records, ttl=300)


@dataclass(frozen=True)
class Case:
    id: str
    zone: ZoneSpec
    outcome: DnsOutcome
    verdict: Verdict
    error: str | None = None
    severity: Severity | None = None
    meanings: tuple[str, ...] | None = None  # flattened meanings, when the case pins them
    codes: tuple[str, ...] | None = None


ZEN = zone("zen.spamhaus.org")
DBL = zone("dbl.spamhaus.org")
URIBL = zone("multi.uribl.com")
SURBL = zone("multi.surbl.org")
GENERIC = generic_zone("bl.example.net")

CASES = [
    Case("nxdomain-not-listed", ZEN, NxDomain(NAME, 300), Verdict.NOT_LISTED),
    Case("nodata-not-listed", ZEN, NoData(NAME, RdataType.A, 300), Verdict.NOT_LISTED),
    Case("nxdomain-domain-list", DBL, NxDomain(NAME), Verdict.NOT_LISTED),
    *[
        Case(f"dns-{r.value}-unknown", ZEN, Unknown(NAME, r), Verdict.UNKNOWN, error=r.value)
        for r in UnknownReason
    ],
    Case(
        "zen-sbl-critical",
        ZEN,
        a("127.0.0.2"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
        meanings=(meaning("zen.spamhaus.org", value="127.0.0.2"),),
        codes=("127.0.0.2",),
    ),
    Case(
        "zen-sbl-and-drop-both-meanings",
        ZEN,
        a("127.0.0.9", "127.0.0.2"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
        meanings=(
            meaning("zen.spamhaus.org", value="127.0.0.2"),
            meaning("zen.spamhaus.org", value="127.0.0.9"),
        ),
        codes=("127.0.0.2", "127.0.0.9"),
    ),
    Case(
        "zen-pbl-isp-catalogue-severity",
        ZEN,
        a("127.0.0.10"),
        Verdict.LISTED,
        severity=code_severity("zen.spamhaus.org", "127.0.0.10"),
        meanings=(meaning("zen.spamhaus.org", value="127.0.0.10"),),
    ),
    Case(
        "zen-pbl-spamhaus-catalogue-severity",
        ZEN,
        a("127.0.0.11"),
        Verdict.LISTED,
        severity=code_severity("zen.spamhaus.org", "127.0.0.11"),
        meanings=(meaning("zen.spamhaus.org", value="127.0.0.11"),),
    ),
    Case(
        "zen-xbl-critical",
        ZEN,
        a("127.0.0.4"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
        meanings=(meaning("zen.spamhaus.org", value="127.0.0.4"),),
    ),
    Case(
        "zen-pbl-with-sbl-takes-the-highest-severity",
        ZEN,
        a("127.0.0.10", "127.0.0.2"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
    ),
    *[
        Case(f"zen-error-{reason}", ZEN, a(value), Verdict.UNKNOWN, error=reason)
        for value, reason in [
            ("127.255.255.252", "typo_zone_name"),
            ("127.255.255.254", "public_resolver"),
            ("127.255.255.255", "excessive_queries"),
        ]
    ],
    *[
        Case(
            f"zen-error-{reason}-mixed-with-sbl",
            ZEN,
            a("127.0.0.2", value),
            Verdict.UNKNOWN,
            error=reason,
        )
        for value, reason in [
            ("127.255.255.252", "typo_zone_name"),
            ("127.255.255.254", "public_resolver"),
            ("127.255.255.255", "excessive_queries"),
        ]
    ],
    Case(
        "outside-127-documentation-net",
        ZEN,
        a("192.0.2.1"),
        Verdict.UNKNOWN,
        error="answer_outside_127",
    ),
    Case(
        "outside-127-private-net", ZEN, a("10.0.0.1"), Verdict.UNKNOWN, error="answer_outside_127"
    ),
    Case(
        "outside-127-mixed-with-sbl",
        ZEN,
        a("127.0.0.2", "10.0.0.1"),
        Verdict.UNKNOWN,
        error="answer_outside_127",
    ),
    Case(
        "outside-127-on-generic-zone",
        GENERIC,
        a("192.0.2.1"),
        Verdict.UNKNOWN,
        error="answer_outside_127",
    ),
    Case(
        "zen-undocumented-127-0-0-200",
        ZEN,
        a("127.0.0.200"),
        Verdict.UNKNOWN,
        error="unexpected_code",
    ),
    Case(
        "dbl-ip-sent-to-domain-list",
        DBL,
        a("127.0.1.255"),
        Verdict.UNKNOWN,
        error="ip_sent_to_domain_list",
    ),
    Case(
        "dbl-spam-domain-listed",
        DBL,
        a("127.0.1.2"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
        meanings=(meaning("dbl.spamhaus.org", value="127.0.1.2"),),
    ),
    Case("uribl-query-refused", URIBL, a("127.0.0.1"), Verdict.UNKNOWN, error="query_refused"),
    Case(
        "uribl-black",
        URIBL,
        a("127.0.0.2"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
        meanings=(meaning("multi.uribl.com", bit=2),),
    ),
    Case(
        "uribl-black-grey-red-three-meanings",
        URIBL,
        a("127.0.0.14"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
        meanings=tuple(meaning("multi.uribl.com", bit=b) for b in (2, 4, 8)),
    ),
    Case(
        "uribl-grey-only-minor",
        URIBL,
        a("127.0.0.4"),
        Verdict.LISTED,
        severity=Severity.MINOR,
        meanings=(meaning("multi.uribl.com", bit=4),),
    ),
    Case("surbl-query-refused", SURBL, a("127.0.0.1"), Verdict.UNKNOWN, error="query_refused"),
    Case(
        "surbl-mw-and-abuse-bits",
        SURBL,
        a("127.0.0.80"),
        Verdict.LISTED,
        severity=Severity.CRITICAL,
        meanings=tuple(meaning("multi.surbl.org", bit=b) for b in (16, 64)),
    ),
    Case(
        "generic-zone-lists-any-127-code",
        GENERIC,
        a("127.0.0.77"),
        Verdict.LISTED,
        severity=GENERIC.severity,
        codes=("127.0.0.77",),
    ),
    Case(
        "generic-zone-lists-127-0-0-2",
        GENERIC,
        a("127.0.0.2"),
        Verdict.LISTED,
        severity=GENERIC.severity,
    ),
    Case(
        "mailspike-rep-h5-is-not-a-listing",
        zone("rep.mailspike.net"),
        a("127.0.0.20"),
        Verdict.NOT_LISTED,
        meanings=(meaning("rep.mailspike.net", value="127.0.0.20"),),
        codes=("127.0.0.20",),
    ),
    Case(
        "mailspike-rep-l5-is-a-listing",
        zone("rep.mailspike.net"),
        a("127.0.0.10"),
        Verdict.LISTED,
        severity=code_severity("rep.mailspike.net", "127.0.0.10"),
    ),
]


def assert_meanings(spec: ZoneSpec, result: DnsblResult, expected: tuple[str, ...]) -> None:
    """Every expected catalogue meaning is reported, and no other meaning of the zone's table.

    Meanings are one entry per meaning, without repeats: a bitmask code contributes the
    meaning of each of its bits, so e.g. URIBL 127.0.0.14 gives three entries.
    """
    assert len(result.meanings) == len(set(result.meanings))
    text = "\n".join(result.meanings)
    for wanted in expected:
        assert wanted in result.meanings
    for code in spec.codes:
        if code.meaning not in expected:
            assert code.meaning not in text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_evaluate_answer(case: Case) -> None:
    result = evaluate_answer(case.zone, case.outcome)
    assert result.zone == case.zone.id
    assert result.verdict is case.verdict
    assert result.error == case.error
    if case.verdict is Verdict.LISTED:
        assert result.severity is case.severity
    else:
        assert result.severity is None
    if case.meanings is not None:
        assert_meanings(case.zone, result, case.meanings)
    if case.codes is not None:
        assert result.codes == case.codes


def test_pbl_severity_in_the_catalogue_is_below_critical() -> None:
    # PBL is a policy listing: serious for a sending MTA but not a spam listing.
    assert code_severity("zen.spamhaus.org", "127.0.0.10").rank < Severity.CRITICAL.rank


def test_every_unknown_reason_has_a_case() -> None:
    covered = {c.error for c in CASES}
    assert {r.value for r in UnknownReason} <= covered


# --- dnsbl_findings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "finding_severity"),
    [
        (Severity.CRITICAL, FindingSeverity.CRITICAL),
        (Severity.MAJOR, FindingSeverity.ERROR),
        (Severity.MINOR, FindingSeverity.WARNING),
        (Severity.INFO, FindingSeverity.INFO),
    ],
    ids=["critical-to-critical", "major-to-error", "minor-to-warning", "info-to-info"],
)
def test_listed_gives_dnsbl_listed_with_mapped_severity(
    severity: Severity, finding_severity: FindingSeverity
) -> None:
    result = DnsblResult("zen.spamhaus.org", Verdict.LISTED, ("127.0.0.2",), ("x",), severity)
    (finding,) = dnsbl_findings([result])
    assert finding.code == "dnsbl.listed"
    assert finding.severity is finding_severity
    assert finding.detail["zone"] == "zen.spamhaus.org"
    assert finding.detail["codes"] == "127.0.0.2"


@pytest.mark.parametrize(
    "reason",
    [
        "public_resolver",
        "excessive_queries",
        "typo_zone_name",
        "ip_sent_to_domain_list",
        "query_refused",
        "invalid_key",
        "answer_outside_127",
        "unexpected_code",
    ],
)
def test_unknown_with_list_error_gives_error_code_finding(reason: str) -> None:
    result = DnsblResult("zen.spamhaus.org", Verdict.UNKNOWN, error=reason)
    (finding,) = dnsbl_findings([result])
    assert finding.code == f"dnsbl.error_code.{reason}"
    assert finding.detail["reason"] == reason


def test_zone_unhealthy_gives_zone_unhealthy_finding() -> None:
    result = DnsblResult("zen.spamhaus.org", Verdict.UNKNOWN, error="zone_unhealthy")
    (finding,) = dnsbl_findings([result])
    assert finding.code == "dnsbl.zone_unhealthy"


@pytest.mark.parametrize("reason", list(UnknownReason), ids=[r.value for r in UnknownReason])
def test_dns_failure_gives_lookup_failed_finding(reason: UnknownReason) -> None:
    result = DnsblResult("zen.spamhaus.org", Verdict.UNKNOWN, error=reason.value)
    (finding,) = dnsbl_findings([result])
    assert finding.code == "dnsbl.lookup_failed"
    assert finding.detail["reason"] == reason.value


def test_not_listed_gives_no_finding() -> None:
    assert dnsbl_findings([DnsblResult("zen.spamhaus.org", Verdict.NOT_LISTED)]) == ()


def test_findings_from_evaluated_answers_use_codes_end_to_end() -> None:
    results = [
        evaluate_answer(ZEN, a("127.0.0.2")),
        evaluate_answer(ZEN, a("127.255.255.254")),
        evaluate_answer(DBL, NxDomain(NAME)),
        evaluate_answer(URIBL, Unknown(NAME, UnknownReason.TIMEOUT)),
    ]
    codes = [f.code for f in dnsbl_findings(results)]
    assert codes == ["dnsbl.listed", "dnsbl.error_code.public_resolver", "dnsbl.lookup_failed"]
