"""Pins the package boundary: checks/ never imports monitor/, the daemon's libraries or a store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHECKS = Path(__file__).resolve().parents[2] / "checks"
FORBIDDEN = frozenset(
    {"monitor", "aiohttp", "prometheus_client", "apscheduler", "sqlalchemy", "alembic"}
)
MODULES = sorted(CHECKS.rglob("*.py"))


def imported_top_level_names(path: Path) -> set[str]:
    """Top-level package of every absolute import in ``path``, at any depth (incl. functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names


def test_the_walk_finds_the_checks_modules() -> None:
    rel = {p.relative_to(CHECKS).as_posix() for p in MODULES}
    assert {"__init__.py", "findings.py", "dns/client.py", "dnsbl/sweep.py"} <= rel


@pytest.mark.parametrize("path", MODULES, ids=[p.relative_to(CHECKS).as_posix() for p in MODULES])
def test_checks_module_imports_nothing_forbidden(path: Path) -> None:
    assert imported_top_level_names(path) & FORBIDDEN == set()


def test_the_walk_detects_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "import os\n"
        "def f():\n"
        "    from monitor.config import Config\n"
        "    import prometheus_client.core\n"
        "    importlib.import_module('aiohttp.web')\n",
        "utf-8",
    )
    assert imported_top_level_names(module) & FORBIDDEN == {
        "monitor",
        "prometheus_client",
        "aiohttp",
    }
