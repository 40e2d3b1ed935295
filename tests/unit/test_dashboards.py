"""Dashboards and rules stay in sync with the metric names the daemon documents.

Every ``delivermon_*`` metric a dashboard panel, a template variable or a rule
uses must be a metric of docs/metrics.md (which tests/unit/test_metrics_doc.py
in turn pins to what the daemon really exposes), and every label a selector
names must be one of that metric's documented labels. Recording-rule names a
panel uses must be defined in rules/. The JSON must be what dashboards/build.py
generates, use the templated data source, and be loadable by Grafana's
provisioning.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
RULE_FILES = sorted((ROOT / "rules").glob("*.yml"))
RECORDING_NAME = re.compile(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b")
METRIC_NAME = re.compile(r"\bdelivermon_[a-z0-9_]+\b")
# Labels Prometheus adds at scrape time.
TARGET_LABELS = {"job", "instance"}
SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def documented() -> dict[str, set[str]]:
    """Metric name -> label names, from the tables of docs/metrics.md."""
    metrics: dict[str, set[str]] = {}
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    row = re.compile(
        r"^\| `(delivermon_[a-z0-9_]+)` \| (gauge|counter|histogram|summary) \| (.*?) \|"
    )
    for line in text.splitlines():
        match = row.match(line)
        if match:
            name, _, labels = match.groups()
            # Label names are the backticked words that are not followed by more
            # backticked values; values are plain words in parentheses.
            names = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", labels)))
            metrics[name] = names
    return metrics


DOCUMENTED = documented()


def resolve(name: str) -> str | None:
    """The documented metric a series name belongs to, or None."""
    if name in DOCUMENTED:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            base = name.removesuffix(suffix)
            if suffix == "_created" and base + "_total" in DOCUMENTED:
                return base + "_total"
            if base in DOCUMENTED:
                return base
    return None


def _walk(node: Any) -> Iterator[tuple[str, str]]:
    """(where, expression) for every query in a dashboard: panel targets and variables."""
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield str(node.get("refId", "?")), node["expr"]
        query = node.get("query")
        if node.get("type") == "query" and isinstance(query, dict):
            yield f"variable {node['name']}", query["query"]
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def dashboard_exprs() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for where, expr in _walk(json.loads(path.read_text(encoding="utf-8"))):
            found.append((f"{path.name} {where}", expr))
    return found


def rule_exprs() -> list[tuple[str, str]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                found.append((f"{path.name} {name}", rule["expr"]))
    return found


def recording_rules() -> set[str]:
    names = set()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


EXPRESSIONS = dashboard_exprs() + rule_exprs()


def test_docs_parsed() -> None:
    # A sanity floor: the parser must see the tables (about 70 metrics today).
    assert len(DOCUMENTED) > 50
    assert DOCUMENTED["delivermon_dnsbl_listed"] == {"target", "zone"}
    assert DOCUMENTED["delivermon_complaints_total"] == {"campaign", "provider"}


def test_dashboards_exist() -> None:
    assert [p.stem for p in DASHBOARDS] == ["campaigns", "daemon", "dmarc", "overview", "telemetry"]
    assert len(dashboard_exprs()) > 40


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_metric_names_are_documented(where: str, expr: str) -> None:
    plain = RECORDING_NAME.sub(" ", expr)
    for name in METRIC_NAME.findall(plain):
        assert resolve(name), f"{where}: {name} is not a metric of docs/metrics.md"


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_selector_labels_are_documented(where: str, expr: str) -> None:
    plain = RECORDING_NAME.sub(" ", expr)
    for name, selector in re.findall(r"\b(delivermon_[a-z0-9_]+)\{([^}]*)\}", plain):
        metric = resolve(name)
        assert metric, name
        for label in re.findall(r"([a-zA-Z_]+)\s*(?:=~|!~|!=|=)", selector):
            assert label in DOCUMENTED[metric] | TARGET_LABELS, (
                f"{where}: {name} has no label {label!r} in docs/metrics.md"
            )


def test_recording_rules_used_are_defined() -> None:
    defined = recording_rules()
    assert defined
    used = {name for _, expr in EXPRESSIONS for name in RECORDING_NAME.findall(expr)}
    assert used, "no panel or alert uses a recording rule"
    assert used <= defined, f"undefined recording rules: {sorted(used - defined)}"


def test_dashboards_are_generated() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "dashboards" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_uses_templated_datasource(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    sources = [
        node["datasource"]
        for node in _nodes(board["panels"])
        if isinstance(node, dict) and "datasource" in node
    ]
    assert sources
    assert all(s == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"} for s in sources)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert board["uid"].startswith("delivermon-")


def test_template_variables_for_target_and_campaign() -> None:
    names = {
        path.stem: {v["name"] for v in json.loads(path.read_text("utf-8"))["templating"]["list"]}
        for path in DASHBOARDS
    }
    assert "target" in names["overview"]
    assert {"campaign", "provider"} <= names["campaigns"]
    assert "domain" in names["dmarc"]


def test_complaint_panels_draw_the_thresholds() -> None:
    board = json.loads((ROOT / "dashboards" / "campaigns.json").read_text("utf-8"))
    complaint = [
        p for p in board["panels"] if p["type"] == "timeseries" and "Complaint ratio" in p["title"]
    ]
    assert complaint
    for panel in complaint:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps[1:]] == [0.001, 0.003]


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)
