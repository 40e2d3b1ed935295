"""The ``delivermon`` command line: the daemon, one-shot checks, ingestion, GDPR and ops tools.

Exit codes (DESIGN.md §2): 0 healthy; 1 problems found; 2 usage or config
error; 3 no problems found but some results unknown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import importlib.metadata
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from checks.dkim import DkimPolicy
from checks.dns import Nameserver
from checks.dnsbl import (
    CatalogueError,
    Target,
    TargetError,
    TargetKind,
    ZoneHealth,
    load_catalogue,
    parse_target,
)
from checks.dnsbl.catalogue import Catalogue, ZoneSpec
from monitor.checking.plans import DomainPlan
from monitor.checking.report import CheckReport, write_document
from monitor.checking.runner import CheckPlan, build_resolver, run_check, run_self_tests
from monitor.checking.zones import select_zones
from monitor.cli import bounce as cli_bounce
from monitor.cli import doctor as cli_doctor
from monitor.cli import feedback as cli_feedback
from monitor.cli import run as cli_run
from monitor.cli import subject as cli_subject
from monitor.cli import telemetry as cli_telemetry
from monitor.cli.report import (
    EXIT_BROKEN_PIPE,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    exit_code,
    render_human,
    stdout_console,
)
from monitor.config import Config, load_config, with_nameservers
from monitor.daemon.logs import LOG_FORMATS, LOG_LEVELS, LogSetup, event_loop_name
from monitor.model.errors import CommandError, ConfigError, UsageError

__all__ = ["main"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
DEFAULT_CONFIG = Path("delivermon.toml")
CONFIG_ENV = "DELIVERMON_CONFIG"  # the container image sets it to its config's path
LOG_FORMAT_ENV = "DELIVERMON_LOG_FORMAT"  # --log-format, when that is not given


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="delivermon", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version",
        action="version",
        version=f"delivermon {importlib.metadata.version('delivermon')}",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=None,
        help="DEBUG, INFO, WARNING, ERROR; overrides [log] level (run: INFO, else WARNING)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,  # else DELIVERMON_LOG_FORMAT, checked in main(): argparse checks no default
        help="text, or one JSON object per line; overrides [log] format "
        "(env DELIVERMON_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check IPs and domains once and report")
    check.add_argument("targets", nargs="*", metavar="TARGET", help="IP address or domain")
    check.add_argument("--targets-file", type=Path, help="one target per line; # comments")
    _common(check)
    check.add_argument("--zone", action="append", metavar="ZONE", help="replaces the zone set")
    check.add_argument(
        "--selector",
        action="append",
        type=_selector,
        metavar="SEL",
        help="DKIM selector for domain targets",
    )
    check.add_argument(
        "--sending-ip",
        action="append",
        type=_ip,
        metavar="IP",
        help="own sending IP of domain targets",
    )
    check.add_argument(
        "--checks",
        default="dnsbl,auth",
        metavar="LIST",
        help="dnsbl, auth (SPF/DMARC/DKIM/MX for domains, PTR for IPs), or both (default)",
    )
    check.add_argument("--json", action="store_true", help="JSON document (version 1)")
    check.add_argument("--all", action="store_true", help="human report: show clean rows too")

    zones = sub.add_parser("zones", help="the zone catalogue and each zone's self-test")
    _common(zones)
    zones.add_argument("--no-test", action="store_true", help="do not self-test the zones")
    zones.add_argument("--json", action="store_true")

    for module in (cli_run, cli_feedback, cli_subject, cli_doctor, cli_telemetry, cli_bounce):
        module.add_commands(sub, _common)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_check = config_sub.add_parser("check", help="validate a config file")
    config_check.add_argument("path", type=Path)
    return parser


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def _nameserver(text: str) -> str:
    try:
        Nameserver.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _selector(text: str) -> str:
    try:
        DkimPolicy(selectors=(text,))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=argparse.SUPPRESS,
        help="as above",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"TOML config (default ${CONFIG_ENV}, else ./delivermon.toml when present, "
        "else the built-in defaults)",
    )
    parser.add_argument(
        "--nameserver",
        action="append",
        type=_nameserver,
        metavar="HOST[:PORT]",
        help="replaces the resolvers ([dns] and [auth_dns] nameservers)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``delivermon`` console script."""
    # A fatal signal (SIGSEGV, SIGBUS: e.g. SQLite's memory-mapped -shm file made
    # unwritable under it) dies with a Python traceback on stderr instead of silently.
    faulthandler.enable()
    args = build_parser().parse_args(argv)
    try:
        # Checked for every command, not only those that start an event loop: a typo in
        # it would otherwise go unnoticed until one does.
        _event_loop_choice()
        if args.log_format is None:
            args.log_format = _log_format_from_env()
    except UsageError as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args.logs = LogSetup(
        level=args.log_level,
        fmt=args.log_format,
        default_level=getattr(args, "default_log_level", "WARNING"),
    ).install()
    try:
        result = _dispatch(args)
        sys.stdout.flush()  # here, where a reader that went away can still be told apart
        return result
    except BrokenPipeError:
        # stdout's reader went away (`| head`): no traceback, and no exit code that means
        # something else (1 is "problems found"); 141 is what a shell shows for SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ConfigError as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, CatalogueError) as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


def _dispatch(args: argparse.Namespace) -> int:
    handler = getattr(args, "handler", None)
    if handler is not None:  # commands registered by the cli_* modules
        result: int = handler(args, _load(args), _run)
        return result
    if args.command == "check":
        return _cmd_check(args)
    if args.command == "zones":
        return _cmd_zones(args)
    return _cmd_config_check(args)


def _load(args: argparse.Namespace) -> Config:
    """``--config``, else ``$DELIVERMON_CONFIG``, else ./delivermon.toml when present, else
    the defaults (said on stderr: a command run from the wrong directory would otherwise
    check the built-in resolver and lists, not the operator's).

    Sets ``args.config_path`` to the file read (None for the defaults), for reloads, and
    applies its ``[log]`` section (the command line's --log-level/--log-format win).
    """
    from_env = os.environ.get(CONFIG_ENV)
    if args.config is not None:
        args.config_path = args.config
    elif from_env:
        args.config_path = Path(from_env)
    elif DEFAULT_CONFIG.exists():
        args.config_path = DEFAULT_CONFIG
    else:
        args.config_path = None
        if getattr(args, "says_config", True):
            print(
                f"delivermon: no config file (--config, ${CONFIG_ENV}, or ./{DEFAULT_CONFIG} "
                f"in {Path.cwd()}): using the built-in defaults",
                file=sys.stderr,
            )
    config = load_config(args.config_path) if args.config_path is not None else Config()
    args.logs.apply(config.log.level, config.log.format)
    return with_nameservers(config, getattr(args, "nameserver", None) or ())


def _event_loop_choice() -> str:
    """DELIVERMON_EVENT_LOOP: auto (unset or empty), asyncio or uvloop, in any case.

    Raises:
        UsageError: anything else.
    """
    choice = os.environ.get("DELIVERMON_EVENT_LOOP", "auto").strip().lower() or "auto"
    if choice not in ("auto", "asyncio", "uvloop"):
        raise UsageError(f"DELIVERMON_EVENT_LOOP must be asyncio or uvloop, got {choice!r}")
    return choice


def _log_format_from_env() -> str | None:
    """DELIVERMON_LOG_FORMAT: text or json, in any case; unset or empty is None.

    Raises:
        UsageError: anything else.
    """
    choice = os.environ.get(LOG_FORMAT_ENV, "").strip().lower()
    if choice and choice not in LOG_FORMATS:
        raise UsageError(f"{LOG_FORMAT_ENV} must be text or json, got {choice!r}")
    return choice or None


def _run(coro_factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """One event loop per command: uvloop (a default dependency where the platform has it)
    unless DELIVERMON_EVENT_LOOP=asyncio; =uvloop insists on it.

    Raises:
        UsageError: DELIVERMON_EVENT_LOOP is something else, or uvloop is asked for and
            not installed.
    """
    choice = _event_loop_choice()
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if choice in ("auto", "uvloop"):
        try:
            import uvloop  # optional speed-up, imported only when chosen
        except ImportError:
            if choice == "uvloop":
                raise UsageError(
                    "DELIVERMON_EVENT_LOOP=uvloop but uvloop is not installed"
                ) from None
        else:
            factory = uvloop.new_event_loop
    results: list[_T] = []

    async def keep_result() -> None:
        # The coroutine Runner.run() drives returns nothing big: on exit CPython 3.11
        # formats the main task (result included) into a message, which for a large
        # report costs a noticeable part of the run.
        log.debug("event loop", extra={"event_loop": event_loop_name()})
        results.append(await coro_factory())

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(keep_result())
    return results[0]


def _targets(args: argparse.Namespace, config: Config) -> list[Target]:
    raw: list[tuple[str, str]] = [(t, "argument") for t in args.targets]
    if args.targets_file is not None:
        try:
            lines = args.targets_file.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read targets file: {exc}") from None
        for number, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                raw.append((text, f"{args.targets_file}:{number}"))
    if not raw:
        for domain in config.domains:
            raw.append((domain.name, "config"))
            raw.extend((ip, "config") for ip in domain.sending_ips)
    if not raw:
        raise UsageError("no targets: give TARGET arguments, --targets-file, or [[domains]]")
    targets, problems, seen = [], [], set()
    for text, where in raw:
        try:
            target = parse_target(text)
        except TargetError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if target.text not in seen:
            seen.add(target.text)
            targets.append(target)
    if problems:
        raise UsageError("invalid targets:\n" + "\n".join(f"  - {p}" for p in problems))
    return targets


def _cmd_check(args: argparse.Namespace) -> int:
    config = _load(args)
    catalogue = load_catalogue()
    checks = _check_set(args.checks)
    targets = _targets(args, config)
    zones = select_zones(config, catalogue, args.zone) if "dnsbl" in checks else ()
    plan = CheckPlan(
        targets=tuple(targets),
        zones=zones,
        **(_auth_plan(args, config, targets) if "auth" in checks else {}),
    )
    resolver = build_resolver(config.dns, args.nameserver)
    auth_resolver = (
        build_resolver(config.auth_dns, args.nameserver) if config.auth_dns is not None else None
    )
    stderr = Console(stderr=True)
    total = len(targets) * len(zones)
    show_progress = stderr.is_terminal and total >= 200

    async def go() -> CheckReport:
        bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
            disable=not show_progress,
        )
        task = bar.add_task("checking", total=total)
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(resolver)
            if auth_resolver is not None:
                await stack.enter_async_context(auth_resolver)
            stack.enter_context(bar)
            return await run_check(
                plan,
                resolver,
                auth_resolver=auth_resolver,
                catalogue_version=catalogue.version,
                concurrency=config.dnsbl.concurrency,
                progress=(lambda n: bar.advance(task, n)) if show_progress else None,
            )

    report = _run(go)
    if args.json:
        write_document(report, sys.stdout)
    else:
        render_human(report, stdout_console(), show_clean=args.all)
    return exit_code(report)


def _check_set(text: str) -> set[str]:
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - {"dnsbl", "auth"}
    if unknown or not chosen:
        raise UsageError(f"--checks takes dnsbl and/or auth, got {text!r}")
    return chosen


def _auth_plan(
    args: argparse.Namespace, config: Config, targets: list[Target]
) -> dict[str, tuple[Any, ...]]:
    """Domain plans (config [[domains]] merged with --selector/--sending-ip) and IPs for PTR."""
    configured = {d.name: d for d in config.domains}
    selectors = tuple(args.selector or ())
    sending = tuple(args.sending_ip or ())
    domains = []
    for target in targets:
        if target.kind is not TargetKind.DOMAIN:
            continue
        known = configured.get(target.text)
        domains.append(
            DomainPlan(
                domain=target.text,
                selectors=tuple(
                    dict.fromkeys((*(known.dkim_selectors if known else ()), *selectors))
                ),
                sending_ips=tuple(dict.fromkeys((*(known.sending_ips if known else ()), *sending))),
                envelope_domains=tuple(known.envelope_domains) if known else (),
                dkim_domains=tuple(known.dkim_domains) if known else (),
            )
        )
    ips = [t.text for t in targets if t.kind is TargetKind.IP]
    ips += [ip for d in domains for ip in d.sending_ips]
    return {"domains": tuple(domains), "ptr_ips": tuple(dict.fromkeys(ips))}


def _cmd_zones(args: argparse.Namespace) -> int:
    config = _load(args)
    catalogue = load_catalogue()
    testable, untestable = _testable_zones(config, catalogue)
    health: dict[str, list[ZoneHealth]] = {}
    if not args.no_test:
        resolver = build_resolver(config.dns, args.nameserver)

        async def go() -> Any:
            async with resolver:
                return await run_self_tests(testable, resolver)

        for h in _run(go):
            health.setdefault(h.zone, []).append(h)
    rows = []
    for zone in catalogue.zones + tuple(z for z in testable if z.custom):
        rows.append((zone, untestable.get(zone.id) or _health_text(health.get(zone.id))))
    if args.json:
        doc = {
            "catalogue_version": catalogue.version,
            "zones": [
                {
                    "zone": z.id,
                    "kind": z.kind.value,
                    "ipv4": z.ipv4,
                    "ipv6": z.ipv6,
                    "match": z.match.value,
                    "severity": z.severity.value,
                    "recommended": z.recommended,
                    "early_warning": z.early_warning,
                    "requires_key": z.requires_key,
                    "requires_registration": z.requires_registration,
                    "delist_url": z.delist_url,
                    "healthy": all(h.healthy for h in health[z.id]) if z.id in health else None,
                    "status": status,
                }
                for z, status in rows
            ],
        }
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    else:
        table = Table(title=f"DNSBL zone catalogue {catalogue.version}", title_justify="left")
        for col in ("zone", "kind", "families", "match", "severity", "default", "needs", "status"):
            table.add_column(col, overflow="fold")
        for z, status in rows:
            needs = ", ".join(
                n
                for n, on in (("key", z.requires_key), ("registration", z.requires_registration))
                if on
            )
            families = "/".join(f for f, on in (("v4", z.ipv4), ("v6", z.ipv6)) if on) or "-"
            table.add_row(
                z.id,
                z.kind.value,
                families,
                z.match.value,
                z.severity.value,
                "yes" if z.recommended else "",
                needs,
                status,
            )
        stdout_console().print(table)
    if args.no_test:
        return EXIT_OK
    healthy = all(h.healthy for hs in health.values() for h in hs)
    return EXIT_OK if healthy else EXIT_UNKNOWN


def _health_text(health: list[ZoneHealth] | None) -> str:
    if health is None:
        return "not tested"
    return ", ".join(
        f"{h.family.value} healthy"
        if h.healthy
        else f"{h.family.value} UNHEALTHY: {h.reason} ({h.test_point})"
        for h in health
    )


def _testable_zones(config: Config, catalogue: Catalogue) -> tuple[list[ZoneSpec], dict[str, str]]:
    """Catalogue zones, custom ones and the configured names that are neither (generic
    lists); keyed zones without a key cannot be tested.

    Raises:
        ConfigError: a problem of the config other than a missing key.
    """
    untestable: dict[str, str] = {}
    testable: list[ZoneSpec] = []
    ids = [z.id for z in catalogue.zones] + [c.id for c in config.dnsbl.custom_zones]
    ids += [name for name in config.dnsbl.zones or () if name.lower().rstrip(".") not in ids]
    for zone_id in dict.fromkeys(ids):
        try:
            (selected,) = select_zones(config, catalogue, [zone_id])
        except ConfigError as exc:
            if not all("needs a key" in p for p in exc.problems):
                raise
            untestable[zone_id] = "no key configured"
            continue
        testable.append(selected)
    return testable, untestable


def _cmd_config_check(args: argparse.Namespace) -> int:
    """Everything start checks: the file, then the settings built from it (secrets, zones
    and their keys, webhook keys and certificates, notifiers, IMAP), without side effects."""
    import aiohttp  # the settings builder's session; imported for this command only

    from monitor.daemon.settings import build_settings

    config = load_config(args.path)
    catalogue = load_catalogue()

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            try:
                build_settings(config, catalogue=catalogue, session=session)
            except ConfigError as exc:  # the file's problems too, under its name
                raise ConfigError(exc.problems, source=str(args.path)) from None

    _run(go)
    print(f"{args.path}: OK")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
