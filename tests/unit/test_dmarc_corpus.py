"""Every aggregate sample in the shared corpus parses or is refused for its stated reason,
and where upstream (stalwartlabs/mail-auth) ships an expected result, the parse agrees
with it field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.ingest.dmarc import AggregateRecord, AggregateReport, parse_dmarc
from monitor.ingest.errors import IngestError
from tests.corpus import corpus_params

# The samples that are refused, and why: nothing else in the corpus may be.
REFUSED = {
    "empty.xml": "empty",  # 0 bytes
    "ikea.com_example.de_1538690400_1538776800.xml": "not_dmarc_xml",  # an unclosed xs:schema root
    "invalid_xml.xml": "xml_malformed",  # <email><bad-xml@bad-xml.net></email>
}
# Warnings the parse must give (oddities accepted, not refused).
WARNINGS = {"invalid_utf_8.xml": ("invalid_utf8",)}


def _parse(path: Path) -> tuple[AggregateReport, list[AggregateRecord]]:
    records: list[AggregateRecord] = []
    report = parse_dmarc(path.read_bytes(), on_record=records.append)
    return report, records


@pytest.mark.parametrize("path", corpus_params("dmarc-aggregate/*/*[!n]"))
def test_corpus_sample_parses_or_is_refused_for_its_stated_reason(
    path: Path, corpus_dir: Path
) -> None:
    if path.name in REFUSED:
        with pytest.raises(IngestError) as refused:
            parse_dmarc(path.read_bytes())
        assert refused.value.reason == REFUSED[path.name]
        return
    report, records = _parse(path)
    assert report.records == len(records) > 0
    assert report.messages == sum(r.count for r in records)
    assert sum(row.messages for row in report.rows) == report.messages
    assert sum(row.records for row in report.rows) == report.records
    assert report.metadata.report_id
    assert report.policy.domain
    assert report.metadata.begin <= report.metadata.end
    assert report.warnings == WARNINGS.get(path.name, ())


def test_the_three_containers_of_one_report_parse_alike(corpus_dir: Path) -> None:
    base = corpus_dir / "dmarc-aggregate" / "parsedmarc"
    plain, gz, zipped = (
        parse_dmarc((base / name).read_bytes())
        for name in ("nice-input.xml", "nice-input.xml.gz", "nice-input.xml.zip")
    )
    assert (plain.container, gz.container, zipped.container) == ("xml", "gzip", "zip")
    assert plain.rows == gz.rows == zipped.rows
    assert plain.metadata == gz.metadata


# --- field by field against mail-auth's expected JSON ------------------------------

_ALIGN = {None: "Unspecified", "r": "Relaxed", "s": "Strict"}
_SCOPE = {None: "Unspecified", "mfrom": "MailFrom", "helo": "Helo"}
_REASONS = {
    "trusted_forwarder": "TrustedForwarder",
    "mailing_list": "MailingList",
    "local_policy": "LocalPolicy",
    "policy_test_mode": "PolicyTestMode",
}


def _camel(value: str | None) -> str:
    return "Unspecified" if value is None else value.capitalize()


def _result(value: str) -> str:
    return {"temperror": "TempError", "permerror": "PermError", "softfail": "SoftFail"}.get(
        value, value.capitalize()
    )


def _expected_record(record: AggregateRecord) -> dict[str, Any]:
    return {
        "row": {
            "source_ip": record.source_ip,
            "count": record.count,
            "policy_evaluated": {
                "disposition": _camel(record.disposition),
                "dkim": _camel(record.dkim),
                "spf": _camel(record.spf),
                "reason": [
                    {"type_": _REASONS.get(kind, "Other"), "comment": comment}
                    for kind, comment in record.reasons
                ],
            },
        },
        "identifiers": {
            "envelope_to": record.envelope_to,
            "envelope_from": record.envelope_from or "",
            "header_from": record.header_from,
        },
        "auth_results": {
            "dkim": [
                {
                    "domain": r.domain,
                    "selector": r.selector or "",
                    "result": _result(r.result),
                    "human_result": r.human_result,
                }
                for r in record.dkim_results
            ],
            "spf": [
                {
                    "domain": r.domain,
                    "scope": _SCOPE[r.scope],
                    "result": _result(r.result),
                    "human_result": r.human_result,
                }
                for r in record.spf_results
            ],
        },
    }


def _ours(report: AggregateReport, records: list[AggregateRecord]) -> dict[str, Any]:
    meta, policy = report.metadata, report.policy
    return {
        "report_metadata": {
            "org_name": meta.org_name,
            "email": meta.email,
            "extra_contact_info": meta.extra_contact_info,
            "report_id": meta.report_id,
            "date_range": {
                "begin": int(meta.begin.timestamp()),
                "end": int(meta.end.timestamp()),
            },
            "error": list(meta.errors),
            "generator": meta.generator,
        },
        "policy_published": {
            "domain": policy.domain,
            "adkim": _ALIGN[policy.adkim],
            "aspf": _ALIGN[policy.aspf],
            "p": _camel(policy.p),
            "sp": _camel(policy.sp),
            "np": _camel(policy.np),
            "testing": policy.testing == "y",
            "discovery_method": _camel(policy.discovery_method),
            "fo": policy.fo,
        },
        "record": [_expected_record(r) for r in records],
    }


def _common(expected: Any, ours: Any) -> Any:
    """``ours`` restricted to the keys ``expected`` has (older JSONs lack np, generator)."""
    if isinstance(expected, dict) and isinstance(ours, dict):
        return {k: _common(v, ours.get(k)) for k, v in expected.items() if k in ours}
    if isinstance(expected, list) and isinstance(ours, list) and len(expected) == len(ours):
        return [_common(e, o) for e, o in zip(expected, ours, strict=True)]
    return ours


def _without(expected: Any, keys: set[str]) -> Any:
    if isinstance(expected, dict):
        return {k: _without(v, keys) for k, v in expected.items() if k not in keys}
    if isinstance(expected, list):
        return [_without(v, keys) for v in expected]
    return expected


@pytest.mark.parametrize("path", corpus_params("dmarc-aggregate/mail-auth/*.expected.json"))
def test_parse_agrees_with_mail_auth_expected_result_field_by_field(
    path: Path, corpus_dir: Path
) -> None:
    stem = path.name.removesuffix(".expected.json")
    sample = next(p for p in path.parent.glob(f"{stem}.*") if not p.name.endswith(".json"))
    report, records = _parse(sample)
    # Not compared: version as a float, version_published (always null upstream), and
    # the extension names/definitions (skipped, like any unknown element).
    expected = _without(
        json.loads(path.read_text()), {"version", "version_published", "extensions"}
    )
    ours = _ours(report, records)
    assert _common(expected, ours) == expected
