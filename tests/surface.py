"""The public surface of delivermon as one JSON document: CLI commands and options, config
keys, HTTP routes and metric families (names, types, labels).

``tests/public_surface.json`` holds the surface as released; the test
``test_public_surface.py`` regenerates it from the code and compares. A change to the
surface is deliberate: regenerate with ``python tests/surface.py --write`` and say why
in the commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

SNAPSHOT = Path(__file__).with_name("public_surface.json")


def cli_surface() -> dict[str, Any]:
    """Every command path with its options (flags) and positionals, sorted."""
    from monitor.cli.main import build_parser

    found: dict[str, Any] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        options: list[str] = []
        positionals: list[str] = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in sorted(action.choices.items()):
                    walk(sub, f"{path} {name}".strip())
            elif isinstance(action, argparse._HelpAction):
                continue
            elif action.option_strings:
                options.append(",".join(sorted(action.option_strings)))
            else:
                positionals.append(action.dest)
        found[path or "(top)"] = {"options": sorted(options), "positionals": positionals}

    walk(build_parser(), "")
    return dict(sorted(found.items()))


def _model_keys(model: type[BaseModel], prefix: str, out: dict[str, str]) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        models = _models_in(annotation)
        if models:
            for sub in models:
                tag = _literal_kind(sub)
                _model_keys(sub, f"{key}[{tag}]." if tag else f"{key}.", out)
        else:
            out[key] = _type_name(annotation)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _literal_kind(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return str(args[0]) if len(args) == 1 else None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in typing.get_args(annotation)) + "]"
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def config_surface() -> dict[str, str]:
    """Every config key (dotted path) with its type."""
    from monitor.config import Config

    out: dict[str, str] = {}
    _model_keys(Config, "", out)
    return dict(sorted(out.items()))


def routes_surface() -> list[str]:
    """METHOD /path of every route the daemon serves."""
    return asyncio.run(_daemon_routes())


async def _daemon_routes() -> list[str]:
    from monitor.config import parse_config
    from monitor.daemon.app import Daemon, DaemonOptions

    # SQLite's -wal/-shm files may outlive the stop by a moment (closed in a thread).
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        config = parse_config(
            f"""
[dns]
nameservers = ["127.0.0.1:9"]
[store]
url = "sqlite:///{tmp}/surface.db"
[privacy]
pseudonym_key = "0123456789abcdef0123456789abcdef"
"""
        )
        daemon = Daemon(config, DaemonOptions(listen="127.0.0.1:0"))
        await daemon.start()
        try:
            app = daemon._runner.app  # type: ignore[union-attr]  # started above
            return sorted(
                {f"{r.method} {r.resource.canonical}" for r in app.router.routes() if r.resource}
            )
        finally:
            await daemon.stop()


def metrics_surface() -> dict[str, Any]:
    """Every metric family the daemon can expose: type and label names."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    sys.path.insert(0, str(Path(__file__).parent))
    from unit.metrics_view import full_metrics

    text = generate_latest(full_metrics().registry).decode("utf-8")
    found: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        labels: set[str] = set()
        for sample in family.samples:
            labels.update(k for k in sample.labels if k not in ("le", "quantile"))
        found[family.name] = {"type": family.type, "labels": sorted(labels)}
    return dict(sorted(found.items()))


def collect() -> dict[str, Any]:
    return {
        "cli": cli_surface(),
        "config": config_surface(),
        "routes": routes_surface(),
        "metrics": metrics_surface(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SNAPSHOT.name}")
    args = parser.parse_args()
    text = json.dumps(collect(), indent=1, sort_keys=True) + "\n"
    if args.write:
        SNAPSHOT.write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
