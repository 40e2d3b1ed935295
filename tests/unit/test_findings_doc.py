"""Pins the finding-code registry: every code the checks use is registered and documented."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from checks.dnsbl.catalogue import load_catalogue
from checks.dnsbl.verdict import ERROR_ANSWER_OUTSIDE_127, ERROR_UNEXPECTED_CODE
from checks.findings import FINDING_CODES, Finding, FindingSeverity, render_findings_doc

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "checks"
FINDINGS_DOC = ROOT / "docs" / "findings.md"


def literal_finding_codes() -> set[str]:
    """Codes passed as a string literal to ``Finding(...)`` anywhere under checks/."""
    codes = set()
    for path in CHECKS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name != "Finding" or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                codes.add(first.value)
    return codes


def error_code_findings() -> set[str]:
    """``dnsbl.error_code.<reason>`` for every error reason of the catalogue and the verdicts."""
    reasons = {e.reason for z in load_catalogue().zones for e in z.errors}
    reasons |= {ERROR_ANSWER_OUTSIDE_127, ERROR_UNEXPECTED_CODE}
    return {f"dnsbl.error_code.{r}" for r in reasons}


USED_CODES = sorted(literal_finding_codes() | error_code_findings())


def test_the_source_scan_finds_the_dnsbl_codes() -> None:
    # guards the parametrisation below against a scan that silently finds nothing
    assert {"dnsbl.listed", "dnsbl.zone_unhealthy", "dnsbl.lookup_failed"} <= set(USED_CODES)


@pytest.mark.parametrize("code", USED_CODES, ids=USED_CODES)
def test_used_code_is_registered(code: str) -> None:
    assert code in FINDING_CODES


@pytest.mark.parametrize("code", sorted(FINDING_CODES), ids=sorted(FINDING_CODES))
def test_registered_code_is_dotted_and_documented(code: str) -> None:
    parts = code.split(".")
    assert len(parts) >= 2
    assert all(p and p.replace("_", "").isalnum() and p == p.lower() for p in parts)
    doc = FINDING_CODES[code]
    assert doc.meaning.strip()
    assert doc.fix.strip()


def test_docs_findings_md_is_generated_from_the_registry() -> None:
    if not FINDINGS_DOC.exists():
        pytest.fail(
            "docs/findings.md is missing: run `python -m checks.findings > docs/findings.md`"
        )
    assert FINDINGS_DOC.read_text("utf-8") == render_findings_doc(), (
        "docs/findings.md is out of date: run `python -m checks.findings > docs/findings.md`"
    )


def test_rendered_doc_has_a_heading_per_code() -> None:
    text = render_findings_doc()
    for code in FINDING_CODES:
        assert f"### `{code}`" in text


def test_finding_with_unregistered_code_raises() -> None:
    with pytest.raises(ValueError, match="unregistered"):
        Finding("dnsbl.no_such_code", FindingSeverity.WARNING, "message")


def test_finding_with_registered_code_is_created() -> None:
    finding = Finding("dnsbl.listed", FindingSeverity.CRITICAL, "message", {"zone": "z"})
    assert finding.code == "dnsbl.listed"
