"""``delivermon doctor``: is the DNSBL resolver fit for the lists, and if not, what to do.

For each resolver of ``[dns] nameservers`` (or ``--nameserver``): does it answer, does
it recurse, do the lists in use accept it (their test point, judged against their own
documented refusal answers), does it validate DNSSEC, how fast does it answer from its
cache (``checks/resolver.py``). Exit codes as ``check``: 0 fit; 1 a problem found; 2
usage or config error; 3 no problem found but something could not be told.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from checks.dns import Nameserver
from checks.dnsbl.catalogue import load_catalogue
from checks.findings import FINDING_CODES
from checks.resolver import LATENCY_LIMIT, ResolverReport, ResolverStatus
from monitor.checking.zones import select_zones
from monitor.cli.report import EXIT_OK, EXIT_PROBLEMS, EXIT_UNKNOWN
from monitor.config import Config
from monitor.model.errors import UsageError

__all__ = ["add_commands"]

_T = TypeVar("_T")
_Run = Callable[[Callable[[], Coroutine[Any, Any, _T]]], _T]

_LABELS = {
    "answers": "answers",
    "recursion": "recursion",
    "not_refused": "lists accept it",
    "dnssec": "DNSSEC",
    "latency": "latency",
}


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``doctor``; it sets ``handler(args, config, run) -> exit code``."""
    doctor = sub.add_parser(
        "doctor",
        help="check that the DNSBL resolver answers, recurses, is accepted by the lists, "
        "validates DNSSEC and is fast",
    )
    common(doctor)
    doctor.add_argument("--zone", action="append", metavar="ZONE", help="replaces the zone set")
    doctor.add_argument(
        "--dnssec-name",
        default=".",
        metavar="NAME",
        help="a DNSSEC-signed name to ask with DO and AD (default: the root)",
    )
    doctor.add_argument(
        "--max-latency-ms",
        type=float,
        default=LATENCY_LIMIT * 1000,
        metavar="MS",
        help=f"median time to answer from its cache above which it is slow "
        f"(default {LATENCY_LIMIT * 1000:.0f})",
    )
    doctor.add_argument("--json", action="store_true", help="one JSON document")
    doctor.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace, config: Config, run: _Run[Any]) -> int:
    if args.max_latency_ms <= 0:
        raise UsageError("--max-latency-ms must be positive")
    zones = select_zones(config, load_catalogue(), args.zone)
    try:
        servers = [Nameserver.parse(ns) for ns in (args.nameserver or config.dns.nameservers)]
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    from checks.resolver import UdpProbe, check_resolver  # dnspython's asyncquery

    async def go() -> list[ResolverReport]:
        return [
            await check_resolver(
                UdpProbe(server, timeout=config.dns.timeout),
                zones=zones,
                dnssec_name=args.dnssec_name,
                latency_limit=args.max_latency_ms / 1000,
                label=str(server),
            )
            for server in servers
        ]

    reports: list[ResolverReport] = run(go)
    if args.json:
        json.dump(_document(reports), sys.stdout)
        sys.stdout.write("\n")
    else:
        _render(reports, sys.stdout.write)
    statuses = {r.status for r in reports}
    if ResolverStatus.PROBLEM in statuses:
        return EXIT_PROBLEMS
    return EXIT_UNKNOWN if ResolverStatus.UNKNOWN in statuses else EXIT_OK


def _document(reports: Sequence[ResolverReport]) -> dict[str, object]:
    return {
        "resolvers": [
            {
                "nameserver": r.nameserver,
                "status": r.status.value,
                "checks": [
                    {
                        "check": c.name,
                        "status": c.status.value,
                        "summary": c.summary,
                        "findings": [
                            {
                                "code": f.code,
                                "severity": f.severity.value,
                                "message": f.message,
                                "detail": dict(f.detail),
                            }
                            for f in c.findings
                        ],
                    }
                    for c in r.checks
                ],
            }
            for r in reports
        ]
    }


def _render(reports: Sequence[ResolverReport], write: Callable[[str], object]) -> None:
    for report in reports:
        write(f"Resolver {report.nameserver} ([dns] nameservers): {report.status.value}\n")
        for check in report.checks:
            mark = {"ok": "ok", "problem": "PROBLEM", "unknown": "unknown"}[check.status]
            write(f"  {mark:<8} {_LABELS.get(check.name, check.name):<16} {check.summary}\n")
        done = {c.name for c in report.checks}
        for name, label in _LABELS.items():  # the checks a failed one before them ruled out
            if name not in done:
                write(f"  {'not run':<8} {label:<16} not tested: an earlier check failed\n")
        todo = dict.fromkeys(
            f.code for c in report.checks if c.status is not ResolverStatus.OK for f in c.findings
        )
        if todo:
            write("  What to do:\n")
            for code in todo:
                write(f"  - {code}: {FINDING_CODES[code].fix}\n")
