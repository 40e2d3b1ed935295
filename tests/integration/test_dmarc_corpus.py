"""checkdmarc's DMARC test records (../shared/corpus/records/checkdmarc-records.tsv) through
check_dmarc against a real NSD: each row's expectation mapped to our finding codes.

Every DMARC row is a case; where checkdmarc's expectation does not map onto our semantics
the case says so in ``note`` and pins what we do instead. No row is dropped silently:
``test_every_dmarc_row_is_mapped`` fails when the corpus gains a row this table lacks.
Each row is served at ``r<line>.example.com`` on one module-wide server.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import CORPUS
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver
from zonefile import txt

from checks.dmarc import DmarcPolicy, check_dmarc

TSV = CORPUS / "records" / "checkdmarc-records.tsv"
EXTERNAL = "elsewhere.com"


@dataclass(frozen=True)
class Expect:
    present: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    policy: str | None = None
    nonexistent: str | None = None
    serve: str = "policy"  # policy | multiple | unrelated | apex | auth | auth-wildcard | ...
    note: str = ""


def E(  # noqa: N802  # reads as a table constructor
    *present: str,
    absent: tuple[str, ...] = (),
    policy: str | None = None,
    nonexistent: str | None = None,
    serve: str = "policy",
    note: str = "",
) -> Expect:
    return Expect(
        frozenset(f"dmarc.{c}" for c in present),
        frozenset(f"dmarc.{c}" for c in absent),
        policy,
        nonexistent,
        serve,
        note,
    )


ERRORS = ("syntax_error", "invalid_tag_value", "missing")

# Keyed by the row's first checkdmarc test name (rows sharing one share the expectation).
TABLE: dict[str, Expect] = {
    "testDMARCMixedFormatting": E(absent=ERRORS, policy="reject"),
    "testInvalidDMARCURI": E("invalid_uri"),
    "testInvalidDMARCPolicyValue": E("invalid_tag_value"),
    "testRFC9989NewTagNp": E(absent=ERRORS, nonexistent="quarantine"),
    "testRFC9989NewTagPsd": E(absent=ERRORS, policy="reject"),
    "testRFC9989NewTagT": E("testing", policy="reject"),
    "testRFC9989InvalidNpValue": E("invalid_tag_value"),
    "testRFC9989InvalidPsdValue": E("invalid_tag_value"),
    "testRFC9989InvalidTValue": E("invalid_tag_value"),
    "testRFC9989PctRemovedWarning": E("obsolete_tag", absent=("pct_below_100",)),
    "testRFC9989RfRemovedWarning": E("obsolete_tag"),
    "testRFC9989RiRemovedWarning": E("obsolete_tag"),
    "testRFC9989MissingPTagWarning": E("p_missing", "policy_none", policy="none"),
    "testRFC9989NpDefaultsToSp": E(absent=ERRORS, nonexistent="quarantine"),
    "testRFC9989NpDefaultsToP": E("no_rua", absent=ERRORS, nonexistent="reject"),
    "testRFC9989BackwardCompatibility": E(
        "obsolete_tag", "pct_below_100", "policy_none", absent=ERRORS
    ),
    "testDMARCGrammarSyntaxError": E("syntax_error"),
    "testDMARCSyntaxError": E("invalid_tag_value"),
    "testDMARCDuplicateTags": E(
        "duplicate_tag", note="checkdmarc raises InvalidDMARCTag; our code is duplicate_tag"
    ),
    "testDMARCUnknownTagIgnored": E("unknown_tag", absent=ERRORS),
    "testDMARCPctRemovedNotValidated": E(
        "syntax_error",
        note="'pct=' has no value, which the RFC 9989 grammar (1*dmarc-value) does not allow: "
        "we name it a syntax error where checkdmarc only warns that pct was removed",
    ),
    "testDMARCRiRemovedNotValidated": E("obsolete_tag", absent=ERRORS),
    "testDMARCFoRedundancy": E(
        absent=ERRORS,
        note="fo=0:1 is valid under RFC 7489's colon list; we accept it and have no "
        "redundancy warning (a style point, not a deliverability problem)",
    ),
    "testDMARCInvalidFoValue": E("invalid_tag_value"),
    "testDMARCRfRemovedNotValidated": E("obsolete_tag", absent=ERRORS),
    "testDMARCSpNoneWarning": E("subdomain_policy_weaker"),
    "testDMARCParkedDomainPolicyWarning": E(
        "policy_none", note="parked-domain detection is not ours; p=none warns for every domain"
    ),
    "testDMARCPTagPositionWarns": E("p_not_first", absent=ERRORS),
    "testDMARCInvalidSpValue": E("invalid_tag_value"),
    "testDMARCMultipleRecords": E("multiple_records", "missing", serve="multiple"),
    "testDMARCUnrelatedRecords": E(
        absent=ERRORS,
        policy="reject",
        serve="unrelated",
        note="RFC 9989 §4.10 discards TXT strings that are not v=DMARC1; checkdmarc raises "
        "UnrelatedTXTRecordFoundAtDMARC, we find the record and report nothing",
    ),
    "testDMARCCheckDmarcParseError": E("invalid_tag_value"),
    "testApexFallbackWrongLocation": E(
        "missing",
        serve="apex",
        note="a v=DMARC1 at the apex is not a DMARC record (only _dmarc is queried): missing",
    ),
    "testWildcardFound": E(
        absent=("rua_unauthorized",),
        serve="auth-wildcard",
        note="the row is an external-destination authorisation record, served as a wildcard",
    ),
    "testUnrelatedRecordRaises": E(
        absent=("rua_unauthorized",),
        serve="auth-unrelated",
        note="served as the authorisation record beside an unrelated TXT: still authorised",
    ),
    "testUnrelatedRecordsBecomeUnverifiedDestination": E(
        "rua_unauthorized",
        serve="auth-unrelated-only",
        note="the row's record is the policy (with an external rua added); the authorisation "
        "name holds only an unrelated TXT, so the destination is unauthorised",
    ),
    "testRuaSizeLimitWarning": E("uri_size_suffix"),
    "testRuaCrossDomainCallsVerify": E("rua_unauthorized"),
    "testRufBranchesCovered": E("uri_size_suffix", "ruf_unauthorized"),
}


@dataclass(frozen=True)
class Row:
    line: int
    record: str
    test: str


def dmarc_rows() -> list[Row]:
    if not TSV.is_file():
        return []
    with TSV.open(newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            Row(line, json.loads(row["record_json"]), row["checkdmarc_tests"].split(",")[0])
            for line, row in enumerate(reader, start=2)
            if row["kind"] == "dmarc"
        ]


ROWS = dmarc_rows()
PARAMS = [pytest.param(row, id=f"{row.line}-{row.test}") for row in ROWS] or [
    pytest.param(None, id="corpus-missing")
]


def _records_for(row: Row) -> list[str]:
    label, serve = f"r{row.line}", TABLE[row.test].serve
    policy = f"_dmarc.{label} IN TXT {txt(row.record)}"
    if serve == "multiple":
        other = next(r for r in ROWS if r.test == row.test and r.line != row.line)
        return [policy, f"_dmarc.{label} IN TXT {txt(other.record)}"]
    if serve == "unrelated":
        return [policy, f'_dmarc.{label} IN TXT "google-site-verification=abc"']
    if serve == "apex":
        return [f"{label} IN TXT {txt(row.record)}"]
    if serve.startswith("auth"):
        rua = f"rua=mailto:d@{label}.{EXTERNAL}"
        text = row.record if serve == "auth-unrelated-only" else "v=DMARC1; p=reject"
        return [f"_dmarc.{label} IN TXT {txt(f'{text}; {rua}')}"]
    return [policy]


def _external_records(row: Row) -> list[str]:
    label, serve = f"r{row.line}", TABLE[row.test].serve
    at = f"{label}.example.com._report._dmarc.{label}"
    if serve == "auth":
        return [f"{at} IN TXT {txt(row.record)}"]
    if serve == "auth-wildcard":
        return [f"*._report._dmarc.{label} IN TXT {txt(row.record)}"]
    if serve == "auth-unrelated":
        return [f"{at} IN TXT {txt(row.record)}", f'{at} IN TXT "unrelated"']
    if serve == "auth-unrelated-only":
        return [f'{at} IN TXT "unrelated"']
    return []


@pytest.fixture(scope="module")
def corpus_server(nsd_module_factory: StartNsd) -> NsdServer:
    zones: dict[str, list[str]] = {"com": [], "gov": [], "example.com": [], EXTERNAL: []}
    for row in ROWS:
        zones["example.com"] += _records_for(row)
        zones[EXTERNAL] += _external_records(row)
    return nsd_module_factory(zones)


def test_every_dmarc_row_is_mapped(corpus_dir: Path) -> None:
    assert ROWS, "no DMARC rows in the corpus table"
    assert {row.test for row in ROWS} <= set(TABLE)


@pytest.mark.parametrize("row", PARAMS)
async def test_checkdmarc_row(corpus_dir: Path, corpus_server: NsdServer, row: Row) -> None:
    expect = TABLE[row.test]
    async with stub_resolver(corpus_server.address, attempts=1) as dns:
        result = await check_dmarc(f"r{row.line}.example.com", dns=dns, policy=DmarcPolicy())
    found = {f.code for f in result.findings}
    assert expect.present <= found, (row.record, result.findings)
    assert not (expect.absent & found), (row.record, result.findings)
    if expect.policy is not None:
        assert result.policy == expect.policy
    if expect.nonexistent is not None:
        assert result.nonexistent_policy == expect.nonexistent
