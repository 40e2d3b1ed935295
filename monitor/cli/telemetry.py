"""``delivermon telemetry import|status``: receiver telemetry outside the daemon's schedule.

``import [--source gmail|snds] [--since DATE]`` imports once (a backfill from DATE:
Gmail's window starts there, or at the usual ``lookback_days`` when that is earlier; SNDS
is asked for each day) and stores it as the daemon's
jobs do; ``status`` prints what each source last returned, per domain and IP, with its
findings. ``--json`` prints a document. Exit codes: 0 done (every subject got through);
1 a subject did not (or the store could not be reached); 2 usage or config error.
Secrets (the credentials, the SNDS key) are never printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from monitor.cli.report import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from monitor.config import Config
from monitor.model.errors import ConfigError
from monitor.model.telemetry import TelemetrySource

__all__ = ["add_commands"]

_T = TypeVar("_T")
_Run = Callable[[Callable[[], Coroutine[Any, Any, _T]]], _T]
_MAX_BACKFILL_DAYS = 120


def _date(text: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    today = dt.datetime.now(dt.UTC).date()
    if not today - dt.timedelta(days=_MAX_BACKFILL_DAYS) <= day <= today:
        raise argparse.ArgumentTypeError(
            f"--since must lie within the last {_MAX_BACKFILL_DAYS} days"
        )
    return day


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register subcommands; each sets ``handler(args, config, run) -> exit code``."""
    telemetry = sub.add_parser(
        "telemetry", help="receiver telemetry: Gmail Postmaster Tools and Microsoft SNDS"
    )
    actions = telemetry.add_subparsers(dest="telemetry_command", required=True)
    importing = actions.add_parser("import", help="import once now (a backfill with --since)")
    importing.add_argument("--source", choices=[s.value for s in TelemetrySource])
    importing.add_argument(
        "--since",
        type=_date,
        metavar="DATE",
        help="first day, YYYY-MM-DD (widens the lookback, never narrows it)",
    )
    importing.add_argument("--json", action="store_true")
    common(importing)
    importing.set_defaults(handler=_import)
    status = actions.add_parser("status", help="what each source last returned")
    status.add_argument("--json", action="store_true")
    common(status)
    status.set_defaults(handler=_status)


def _settings(config: Config, source: str | None, *, secrets: bool = True) -> Any:
    from monitor.telemetry.settings import build_telemetry_settings

    try:
        settings = build_telemetry_settings(config, secrets=secrets)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"delivermon: {problem}", file=sys.stderr)
        return None
    configured = {
        TelemetrySource.GMAIL.value: settings.gmail is not None,
        TelemetrySource.SNDS.value: settings.snds is not None,
    }
    wanted = [source] if source else list(configured)
    if not any(configured[s] for s in wanted):
        section = f"[telemetry.{source}]" if source else "[telemetry.gmail] or [telemetry.snds]"
        print(f"delivermon: no {section} section in the config", file=sys.stderr)
        return None
    return settings


def _import(args: argparse.Namespace, config: Config, run: _Run[Any]) -> int:
    import aiohttp

    from monitor.daemon.telemetryjobs import run_imports
    from monitor.store import StoreUnavailableError, open_store

    settings = _settings(config, args.source)
    if settings is None:
        return EXIT_USAGE

    async def go() -> list[Any]:
        store = await open_store(config.store.url)
        try:
            async with aiohttp.ClientSession() as session:
                return await run_imports(
                    store,
                    settings,
                    session,
                    now=dt.datetime.now(dt.UTC),
                    source=TelemetrySource(args.source) if args.source else None,
                    since=args.since,
                )
        finally:
            await store.close()

    try:
        summaries = run(go)
    except StoreUnavailableError as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    document = {
        s.source.value: {k: {"state": st, "reason": r} for k, (st, r) in s.states.items()}
        for s in summaries
    }
    if args.json:
        json.dump({"version": 1, "imported": document}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for source, subjects in document.items():
            for subject, got in subjects.items():
                reason = f" ({got['reason']})" if got["reason"] else ""
                print(f"{source:6} {subject:40} {got['state']}{reason}")
    failed = any(
        got["state"] not in ("ok", "no_data")
        for subjects in document.values()
        for got in subjects.values()
    )
    return EXIT_PROBLEMS if failed else EXIT_OK


def _status(args: argparse.Namespace, config: Config, run: _Run[Any]) -> int:
    from monitor.daemon.telemetryjobs import load_view
    from monitor.store import StoreUnavailableError, open_store
    from monitor.telemetry.documents import status_document

    settings = _settings(config, None, secrets=False)  # it shows what is stored
    if settings is None:
        return EXIT_USAGE

    async def go() -> dict[str, Any]:
        store = await open_store(config.store.url, create=False)  # it shows what is stored
        try:
            return status_document(await load_view(store, settings, dt.datetime.now(dt.UTC)))
        finally:
            await store.close()

    try:
        document = run(go)
    except StoreUnavailableError as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_status(document)
    return EXIT_OK


def _print_status(document: dict[str, Any]) -> None:
    for source, info in document["sources"].items():
        up = {True: "up", False: "FAILING", None: "never imported"}[info["up"]]
        print(f"{source}: {up}; last success {info['last_success'] or 'never'}")
        for finding in info["findings"]:
            print(f"         {finding['severity']:8} {finding['code']}: {finding['message']}")
    for domain, d in document["gmail"].items():
        rate = (
            f"{d['spam_rate']:.3%} on {d['spam_rate_day']}"
            if d["spam_rate"] is not None
            else "no data"
        )
        print(f"gmail  {domain:32} {d['state'] or 'not imported':18} spam rate {rate}")
        for finding in d["findings"]:
            print(f"         {finding['severity']:8} {finding['code']}: {finding['message']}")
    for ip, v in document["snds"].items():
        result = (v["filter_result"] or "no data").upper()
        blocked = {True: "BLOCKED", False: "not blocked", None: "block list unknown"}[v["blocked"]]
        traps = "no data" if v["trap_hits"] is None else v["trap_hits"]
        print(f"snds   {ip:32} {result:8} traps {traps}  {blocked}")
        for finding in v["findings"]:
            print(f"         {finding['severity']:8} {finding['code']}: {finding['message']}")
