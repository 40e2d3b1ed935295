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


# --- monitor/: one direction of dependency, no cycles, one exception root -------------------

MONITOR = CHECKS.parent / "monitor"
# Lower first: a package may import the ones before it, never one after it. The order is
# docs/architecture.md's diagram.
LAYERS = (
    "model",
    "config",
    "checking",
    "store",
    "telemetry",
    "ingest",
    "alerting",
    "risk",
    "metrics",
    "http",
    "daemon",
    "cli",
)
MONITOR_MODULES = sorted(MONITOR.rglob("*.py"))


def _package(path: Path) -> str | None:
    parts = path.relative_to(MONITOR).parts
    return parts[0] if len(parts) > 1 else None


def _monitor_imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Dotted ``monitor.*`` modules imported by ``path`` (all depths, or the module body only)."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "monitor":
                found.update(f"monitor.{a.name}" for a in node.names)
            elif node.module.startswith("monitor."):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("monitor."))
    return found


def test_every_monitor_package_has_a_layer() -> None:
    packages = {p.name for p in MONITOR.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS)


@pytest.mark.parametrize(
    "path", MONITOR_MODULES, ids=[p.relative_to(MONITOR).as_posix() for p in MONITOR_MODULES]
)
def test_monitor_module_imports_only_lower_layers(path: Path) -> None:
    own = _package(path)
    if own is None:
        return
    level = LAYERS.index(own)
    higher = {
        name
        for name in _monitor_imports(path)
        if name.split(".")[1] in LAYERS and LAYERS.index(name.split(".")[1]) > level
    }
    assert higher == set(), f"{own} may import only {LAYERS[:level]} and itself"


def _module_name(path: Path) -> str:
    rel = path.relative_to(MONITOR.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_monitor_has_no_import_cycles() -> None:
    modules = {_module_name(p): p for p in MONITOR_MODULES}
    graph = {
        name: {m for m in _monitor_imports(path, top_level_only=True) if m in modules} - {name}
        for name, path in modules.items()
    }
    # A package's __init__ re-exporting its modules is not a cycle with them.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*path, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if state.get(start) is None and visit(start, [start]):
            break
    assert cycle == []


def _exceptions(root: Path, package: str) -> list[type[BaseException]]:
    import importlib
    import inspect

    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "__main__.py" or "migrations" in path.parts:  # scripts, not modules
            continue
        rel = path.relative_to(root.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseException)
                and obj.__module__ == name
                and not obj.__name__.startswith("_")
            ):
                found.append(obj)
    return found


def test_every_checks_exception_is_a_checks_error() -> None:
    from checks.errors import ChecksError

    found = _exceptions(CHECKS, "checks")
    assert len(found) >= 7
    assert [e.__name__ for e in found if not issubclass(e, ChecksError)] == []


def test_every_monitor_exception_is_a_monitor_error() -> None:
    from monitor.model.errors import MonitorError

    found = _exceptions(MONITOR, "monitor")
    assert len(found) >= 15
    assert [e.__name__ for e in found if not issubclass(e, MonitorError)] == []


def test_the_layer_walk_detects_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from monitor.daemon.app import Daemon\nimport monitor.cli.main\n", "utf-8")
    assert _monitor_imports(module) >= {"monitor.daemon.app", "monitor.cli.main"}
