"""Every row of ../shared/corpus/dkim/dkim-key-records.tsv through evaluate_key_record.

The table's ``key_check`` column (written independently of this code) gives the key type,
size and form; the expected finding codes follow from it by the documented thresholds.
Records whose tags also matter (t=, h=, s=, k=, v=, tag syntax) are listed below with the
reason. The three DNS-condition marker rows are not records: they are mapped to the DNS
outcome they stand for and checked through evaluate_selector here (and against a real
server in tests/integration/test_dkim_corpus.py). No row is skipped.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import CORPUS

from checks.dkim import evaluate_key_record, evaluate_selector
from checks.dns import NxDomain, Unknown, UnknownReason

TSV = "dkim/dkim-key-records.tsv"
ANONYMOUS = "(dkimpy test data)"


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    name: str
    record: str
    key_check: str
    file: str

    @property
    def key(self) -> str:
        """Unique handle: the owner name, or the source file for dkimpy's anonymous records."""
        return self.file if self.name == ANONYMOUS else self.name


def load_rows(corpus: Path) -> list[Row]:
    with (corpus / TSV).open(newline="") as handle:
        # QUOTE_NONE: the record column is JSON (quotes included), not CSV quoting.
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        assert header == ["name", "record_json", "key_check", "file"]
        return [
            Row(line, name, json.loads(record), key_check, file)
            for line, (name, record, key_check, file) in enumerate(reader, start=2)
        ]


def _params() -> list[object]:
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    return [pytest.param(row, id=f"{row.line}-{row.key}") for row in load_rows(CORPUS)]


# Rows where the record's tags make the key unusable: the whole expectation, with why.
REPLACED: dict[str, tuple[str | None, int | None, set[str], str]] = {
    "dkimpy/badk.txt": (None, None, {"dkim.unknown_key_type"}, "k=ed25519-sha256"),
    "dkimpy/badversion.txt": (None, None, {"dkim.malformed_record"}, "'v=DKIM1:' (colon)"),
    "testbad1._domainkey.messiah.edu": (None, None, {"dkim.malformed_record"}, "v=DKIM3"),
    "testbad2._domainkey.messiah.edu": (None, None, {"dkim.malformed_record"}, "bare 't;'"),
    "testbad3._domainkey.messiah.edu": (
        None,
        None,
        {"dkim.unknown_key_type", "dkim.testing"},
        "k=foobar; t=y",
    ),
}
# Rows whose tags add findings to those of the key itself, with the tag responsible.
ADDED: dict[str, tuple[set[str], str]] = {
    "dkimpy/test_tlsrpt.txt": ({"dkim.service_not_email"}, "s=tlsrpt"),
    "test1._domainkey.messiah.edu": ({"dkim.testing"}, "t=y"),
    "test2._domainkey.messiah.edu": ({"dkim.testing", "dkim.unsupported_hash"}, "t=y, h=md5:sha1"),
    "test5._domainkey.messiah.edu": ({"dkim.strict_subdomain"}, "t=s"),
    "test6._domainkey.messiah.edu": ({"dkim.strict_subdomain"}, "t=s"),
    "testbad4._domainkey.messiah.edu": ({"dkim.service_not_email"}, "s=chat"),
    "testbad7._domainkey.messiah.edu": ({"dkim.unsupported_hash"}, "h=bad"),
    "testrevoked._domainkey.messiah.edu": ({"dkim.testing"}, "t=y"),
    "s1024._domainkey.yahoo.com": ({"dkim.testing"}, "t=y"),
    "beta._domainkey.gmail.com": ({"dkim.testing"}, "t=y"),
    "s1024-2013-q3._domainkey.facebookmail.com": ({"dkim.strict_subdomain"}, "t=s"),
    "dk2016._domainkey.github.com": ({"dkim.strict_subdomain"}, "t=s after p="),
}
# DNS-condition markers: the outcome they stand for and the code that must result.
MARKERS: dict[str, tuple[NxDomain | Unknown, str]] = {
    "NXDOMAIN": (NxDomain("marker"), "dkim.missing"),
    "~~Query timed out~~": (Unknown("marker", UnknownReason.TIMEOUT), "dkim.lookup_failed"),
    "~~SERVFAIL~~": (Unknown("marker", UnknownReason.SERVFAIL), "dkim.lookup_failed"),
}

_RSA = re.compile(r"RSA (\d+)-bit (SubjectPublicKeyInfo|PKCS#1 RSAPublicKey)")


def expected_from_key_check(key_check: str) -> tuple[str | None, int | None, set[str]]:
    """Key type, bits and key-level codes implied by the table's description of the key."""
    if match := _RSA.match(key_check):
        bits = int(match.group(1))
        codes = set()
        if bits < 1024:
            codes.add("dkim.key_too_short")
        elif bits < 2048:
            codes.add("dkim.key_weak")
        elif bits > 4096:
            codes.add("dkim.key_oversized")
        if match.group(2).startswith("PKCS#1"):
            codes.add("dkim.rsa_key_not_spki")
        return "rsa", bits, codes
    known: dict[str, tuple[str | None, int | None, set[str]]] = {
        "ed25519 raw 32-byte key": ("ed25519", 256, set()),
        "ed25519 wrapped in SubjectPublicKeyInfo (not RFC 8463 raw form)": (
            "ed25519",
            None,
            {"dkim.malformed_key"},
        ),
        "REVOKED (empty p=)": ("rsa", None, {"dkim.revoked"}),
        "p= decodes but is not a parseable public key": ("rsa", None, {"dkim.malformed_key"}),
    }
    if key_check not in known:
        raise AssertionError(f"unmapped key_check {key_check!r}: add it with a reason")
    return known[key_check]


def expected(row: Row) -> tuple[str | None, int | None, set[str]]:
    """(key type, key bits, finding codes) for a key record row: the corpus's own key_check
    column, or this file's correction of it (REPLACED), plus the codes it adds (ADDED)."""
    if row.key in REPLACED:
        key_type, key_bits, codes, _why = REPLACED[row.key]
        return key_type, key_bits, codes
    key_type, key_bits, codes = expected_from_key_check(row.key_check)
    return key_type, key_bits, codes | ADDED.get(row.key, (set(), ""))[0]


@pytest.mark.parametrize("row", _params())
def test_corpus_key_record(corpus_dir: Path, row: Row) -> None:
    if row.key_check.startswith("DNS condition marker: "):
        outcome, code = MARKERS[row.record]
        assert [f.code for f in evaluate_selector("s", outcome).findings] == [code]
        return
    key_type, key_bits, codes = expected(row)
    evaluation = evaluate_key_record(row.record)
    assert (evaluation.key_type, evaluation.key_bits) == (key_type, key_bits)
    assert {f.code for f in evaluation.findings} == codes


def test_corpus_expectation_tables_name_existing_rows(corpus_dir: Path) -> None:
    rows = load_rows(corpus_dir)
    keys = [row.key for row in rows]
    assert len(keys) == len(set(keys)), "row handles must be unique"
    assert set(REPLACED) | set(ADDED) <= set(keys)
    markers = {row.record for row in rows if row.key_check.startswith("DNS condition marker")}
    assert markers == set(MARKERS)
