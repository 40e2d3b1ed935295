"""The shipped Prometheus and Alertmanager files, checked by the real tools.

``promtool check config``, ``promtool check rules``, ``promtool test rules``
(the unit tests in rules/tests/) and ``amtool check-config``, plus the
Alertmanager routing tree. Needs Debian's ``prometheus`` and
``prometheus-alertmanager`` packages; skips without them, fails under CI=true.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_server

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "rules" / "tests").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

pytestmark = pytest.mark.prometheus


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    require_server(found, f"{name} not installed: apt-get install {package}")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def promtool() -> str:
    return _tool("promtool", "prometheus")


@pytest.fixture(scope="module")
def amtool() -> str:
    return _tool("amtool", "prometheus-alertmanager")


def run(*args: str) -> str:
    proc = subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{output}"
    return proc.stdout


def test_rule_files_present() -> None:
    assert [p.name for p in RULE_FILES] == ["alerts.yml", "recording.yml"]
    assert RULE_TESTS, "no promtool unit tests in rules/tests/"


def test_prometheus_config(promtool: str) -> None:
    output = run(promtool, "check", "config", "prometheus.yml")
    # The rule_files glob must reach the rules: check config checks them too.
    for path in RULE_FILES:
        assert path.name in output


def test_compose_prometheus_config(promtool: str) -> None:
    run(promtool, "check", "config", "deploy/prometheus.compose.yml")


def test_rules_check(promtool: str) -> None:
    run(promtool, "check", "rules", *(str(p.relative_to(ROOT)) for p in RULE_FILES))


def test_rules_unit_tests(promtool: str) -> None:
    output = run(promtool, "test", "rules", *(str(p.relative_to(ROOT)) for p in RULE_TESTS))
    assert "FAILED" not in output


def test_alertmanager_config(amtool: str) -> None:
    run(amtool, "check-config", "alertmanager.yml")


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            ["alertname=DelivermonListedCriticalList", "severity=critical", "target=192.0.2.10"],
            "oncall-slack,team-email,tickets-webhook",
        ),
        (["alertname=DelivermonListed", "severity=warning"], "team-email"),
        (["alertname=DelivermonRecordChanged", "severity=info"], "tickets-webhook"),
        (["alertname=SomethingElse"], "team-email"),
    ],
)
def test_alertmanager_routes(amtool: str, labels: list[str], receivers: str) -> None:
    output = run(amtool, "config", "routes", "test", "--config.file=alertmanager.yml", *labels)
    assert output.strip() == receivers


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield node["expr"]
        for value in node.values():
            yield from _exprs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _exprs(value)


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    """Every panel query, variables filled in, is valid PromQL (as a recording rule)."""
    rules = []
    for path in DASHBOARDS:
        for i, expr in enumerate(_exprs(json.loads(path.read_text(encoding="utf-8")))):
            filled = expr.replace("$__rate_interval", "5m")
            filled = re.sub(r"\$\{?[A-Za-z_]+\}?", ".*", filled)
            rules.append({"record": f"dashboard:{path.stem}:q{i}", "expr": filled})
    assert rules
    rule_file = tmp_path / "dashboard_queries.yml"
    rule_file.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    run(promtool, "check", "rules", str(rule_file))
