"""The SPF rows of checkdmarc's record table (../shared/corpus/records), served from a real NSD.

Each row's record is published at example.com and checked with ``check_spf``;
where checkdmarc's expected exception has a counterpart among our codes the
finding must be there, and a row expecting no exception must not get a syntax
error or a multiple-records finding. Rows whose meaning depends on DNS data
the table does not carry are listed in SKIPPED with the reason.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from corpus import CORPUS
from dnsserver import StartNsd
from resolvers import stub_resolver

from checks.spf import SpfPolicy, check_spf

TABLE = "records/checkdmarc-records.tsv"

CODE_FOR = {
    "SPFSyntaxError": "spf.syntax_error",
    "SPFTooManyVoidDNSLookups": "spf.too_many_void_lookups",
    "SPFIncludeLoop": "spf.include_failed",
    "SPFRedirectLoop": "spf.include_failed",
    "SPFRecordNotFound": "spf.missing",
}
NOT_SYNTAX = {"spf.syntax_error", "spf.multiple_records"}

# Rows where RFC 7208 and checkdmarc disagree: we assert the RFC's verdict.
STRICTER = {
    "testTextAfterExpValueWarns": (
        "spf.syntax_error",
        "'extra' is neither a mechanism nor a modifier: RFC 7208 §4.6 makes the record a "
        "permerror (the OpenSPF suite's detect-errors-anywhere); checkdmarc only warns",
    ),
}

# Rows that do not apply, excluded from the parametrisation (not skipped: a skipped
# case cannot fail); test_exclusions_name_existing_rows keeps this list honest.
EXCLUDED = {
    "testTooManySPFDNSLookups": "needs the real include targets (salesforce, outlook, ...)",
    "testTooManySPFDNSLookupsMocked": "the mocked DNS answers for 'a' are not in the table",
    "testTooManyMxRecords": "needs the mocked MX records (more than 10), not in the table",
    "testMxHostMissingARecords": "needs the mocked MX hosts, not in the table",
    "testSPFMultipleRecords": "one of several records of one test; spf.multiple_records "
    "is pinned in test_spf.py",
    "testSizeCheckSkippedOnUndecodableRecord": "a lone UTF-16 surrogate cannot be put in DNS",
}


def _rows() -> list[Any]:
    path = CORPUS / TABLE
    if not path.is_file():
        return [pytest.param(None, None, None, id="corpus-missing")]
    params = []
    with path.open(encoding="utf-8", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)):
            if row["kind"] != "spf":
                continue
            test = row["checkdmarc_tests"].split(",")[0]
            if test in EXCLUDED:
                continue
            record = json.loads(row["record_json"])
            params.append(
                pytest.param(record, row["expected_exception"], test, id=f"{index}-{test}")
            )
    return params


def test_exclusions_name_existing_rows(corpus_dir: Path) -> None:
    """Every excluded checkdmarc test exists in the table, so no exclusion outlives its row."""
    with (corpus_dir / TABLE).open(encoding="utf-8", newline="") as handle:
        tests = {
            r["checkdmarc_tests"].split(",")[0]
            for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            if r["kind"] == "spf"
        }
    assert set(EXCLUDED) <= tests


def _rdata(record: str) -> str:
    if record.startswith('"'):
        return record  # already TXT presentation: several quoted character-strings
    escaped = record.replace("\\", "\\\\").replace('"', '\\"')
    return " ".join(f'"{escaped[i : i + 255]}"' for i in range(0, len(escaped), 255))


@pytest.mark.parametrize(("record", "expected", "test"), _rows())
async def test_checkdmarc_spf_rows_agree(
    corpus_dir: Path, nsd_factory: StartNsd, record: str, expected: str, test: str
) -> None:
    """Our findings agree with checkdmarc's expected error for the same record."""
    server = nsd_factory({"example.com": [f"@ IN TXT {_rdata(record)}"]})
    async with stub_resolver(server.address, timeout=1.0) as dns:
        result = await check_spf("example.com", dns=dns, policy=SpfPolicy())
    codes = {f.code for f in result.findings}
    if test in STRICTER:
        assert STRICTER[test][0] in codes, result.findings
    elif expected == "-":
        assert not codes & NOT_SYNTAX, result.findings
    else:
        assert CODE_FOR[expected] in codes, result.findings
