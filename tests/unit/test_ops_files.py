"""The shipped alert rules, their unit tests and docs/runbooks.md stay consistent.

No promtool needed (tests/integration/test_rules.py runs the real tools): every
alert has ``for:``, a ``severity`` label, summary, description and a runbook
URL whose anchor is a section of docs/runbooks.md; every runbook section is an
alert; every alert has a promtool case where it fires and one where it must
not; the delisting table in the runbooks matches the zone catalogue.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks.md"
CATALOGUE = ROOT / "checks" / "dnsbl" / "catalogue.toml"
SEVERITIES = {"critical", "warning", "info"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    groups = _load(ROOT / "rules" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def alert_tests() -> list[dict[str, Any]]:
    found = []
    for path in sorted((ROOT / "rules" / "tests").glob("*.yml")):
        for test in _load(path)["tests"]:
            found.extend(test.get("alert_rule_test", []))
    return found


def runbook_sections() -> list[str]:
    text = RUNBOOKS.read_text(encoding="utf-8")
    return re.findall(r"^## (Delivermon\w+)$", text, flags=re.M)


ALERTS = alert_rules()
NAMES = [rule["alert"] for rule in ALERTS]


def test_alert_names_unique() -> None:
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_alert_has_for_severity_annotations_and_runbook(rule: dict[str, Any]) -> None:
    assert "for" in rule, "every alert says how long the condition must hold"
    severity = rule["labels"]["severity"]
    if "{{" in severity:  # templated: every branch is a known severity
        assert set(re.findall(r"\}\}(\w+)\{\{", severity)) <= SEVERITIES
    else:
        assert severity in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    assert annotations["runbook_url"] == f"docs/runbooks.md#{rule['alert'].lower()}"


def test_every_alert_has_a_runbook_section_and_back() -> None:
    assert sorted(runbook_sections()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_alert_has_a_firing_and_a_quiet_case(name: str) -> None:
    cases = [case for case in alert_tests() if case["alertname"] == name]
    firing = [case for case in cases if case.get("exp_alerts")]
    quiet = [case for case in cases if not case.get("exp_alerts")]
    assert firing, f"{name}: no promtool case where it fires"
    assert quiet, f"{name}: no promtool case where it must not fire"
    for case in firing:
        for alert in case["exp_alerts"]:
            assert alert["exp_labels"]["severity"] in SEVERITIES
            assert alert["exp_annotations"]["runbook_url"].endswith(f"#{name.lower()}")


def delisting_table() -> str:
    """The runbooks' delisting table, from the catalogue's zones and delist_url."""
    text = CATALOGUE.read_text(encoding="utf-8")
    unverified = {
        zone_id
        for zone_id, line in re.findall(
            r'^id = "([^"]+)"$.*?^(delist_url = [^\n]*)$', text, flags=re.M | re.S
        )
        if "unverified" in line
    }
    rows = [
        "| Zone | Operator | Severity | Early warning | Delisting | Note |",
        "|---|---|---|---|---|---|",
    ]
    for zone in tomllib.loads(text)["zone"]:
        cells = [
            f"`{zone['id']}`",
            zone["operator"],
            zone["severity"],
            "yes" if zone["early_warning"] else "no",
            zone["delist_url"] or "none",
            "unverified" if zone["id"] in unverified else "",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def test_delisting_table_matches_catalogue() -> None:
    text = RUNBOOKS.read_text(encoding="utf-8")
    match = re.search(r"<!-- begin delisting -->\n(.*?)\n<!-- end delisting -->", text, re.S)
    assert match, "delisting markers missing from docs/runbooks.md"
    expected = delisting_table()
    assert match.group(1).strip() == expected, f"update docs/runbooks.md:\n{expected}"
