"""DNSBL sweep benchmark: nsd capacity (dnsperf) vs pydnsbl vs delivermon, on synthetic zones.

Run on demand (`make bench`), never in CI. Every tool runs on both event loops
(asyncio, uvloop); pydnsbl at its best concurrency (its `concurrency` setting, chosen by
a calibration pass on each loop), delivermon as a plain install runs it. One run
interleaves every tool over several repetitions against one local NSD and reports
medians, ratios to pydnsbl on the same loop, wall and CPU seconds, peak RSS and
correctness against the generated truth. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import synthetic_zones
import tool_runs
from repetitions import command_line, progress, rotated
from serve_zones import NsdServer, nsd_version, serve_zone_files
from synthetic_zones import BenchConfig, BenchZones

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DNSPERF = "dnsperf"
PYDNSBL_ASYNCIO = "pydnsbl (asyncio)"
PYDNSBL_UVLOOP = "pydnsbl (uvloop)"
DELIVERMON_ASYNCIO = "delivermon (asyncio)"
DELIVERMON_UVLOOP = "delivermon (uvloop, the default)"
TARGET_SPEEDUP = 4.0
TARGET_RSS_FRACTION = 1 / 3
# Each tool's event loop, and the pydnsbl run on the same loop it is compared with.
LOOP = {
    PYDNSBL_ASYNCIO: "asyncio",
    PYDNSBL_UVLOOP: "uvloop",
    DELIVERMON_ASYNCIO: "asyncio",
    DELIVERMON_UVLOOP: "uvloop",
}
PEER = {DELIVERMON_ASYNCIO: PYDNSBL_ASYNCIO, DELIVERMON_UVLOOP: PYDNSBL_UVLOOP}
PYDNSBL_TOOLS = (PYDNSBL_ASYNCIO, PYDNSBL_UVLOOP)
# pydnsbl's concurrency values tried on each loop before the measured runs (its default
# is 200); the fastest is used. delivermon runs with its own defaults (512 in flight).
CALIBRATION_CONCURRENCY = "100,200,500,1000,2000"


@dataclass(slots=True)
class RunRecord:
    """One measured run of one tool in one repetition."""

    tool: str
    rep: int
    ok: bool
    wall_seconds: float
    peak_rss_kib: int
    cpu_seconds: float
    server_queries: int | None
    checks: int
    checks_per_second: float | None
    queries_per_second: float | None
    returncode: int
    note: str = ""
    inner_sweep_seconds: float | None = None
    concurrency: int | None = None  # pydnsbl's setting in this run
    correctness: dict[str, Any] | None = None
    loadavg_before: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))


@dataclass(frozen=True, slots=True)
class Workspace:
    """Files every run reads, and the server they run against."""

    zones: BenchZones
    directory: Path
    targets_file: Path
    warmup_targets_file: Path
    calibration_targets_file: Path
    queries_file: Path
    server: NsdServer


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3)")
    parser.add_argument("--targets", type=int, default=None, help="IPs swept (default 10000)")
    parser.add_argument("--zones", type=int, default=None, help="zones (default 20)")
    parser.add_argument("--seed", type=int, default=synthetic_zones.DEFAULT_SEED)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 targets, 3 reps, 2 s of dnsperf"
    )
    parser.add_argument(
        "--tools",
        default="dnsperf,pydnsbl,pydnsbl-uvloop,delivermon,delivermon-uvloop",
        help="comma-separated subset of "
        "dnsperf,pydnsbl,pydnsbl-uvloop,delivermon,delivermon-uvloop",
    )
    parser.add_argument(
        "--pydnsbl-concurrency",
        default=CALIBRATION_CONCURRENCY,
        help="pydnsbl concurrency values to calibrate over (one value: no calibration)",
    )
    parser.add_argument(
        "--calibration-targets",
        type=int,
        default=None,
        help="targets of each calibration run (default: all, the measured workload)",
    )
    parser.add_argument("--dnsperf-seconds", type=float, default=None, help="default 5 (quick 2)")
    parser.add_argument(
        "--delivermon-command",
        type=shlex.split,
        default=None,
        help="command that runs delivermon (default: the venv's delivermon script)",
    )
    parser.add_argument("--run-timeout", type=float, default=600.0, help="seconds per tool run")
    parser.add_argument("--keep-workdir", action="store_true", help="keep zones and outputs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    args.reps = args.reps or 3
    args.targets = args.targets or (2_000 if args.quick else 10_000)
    args.zones = args.zones or 20
    args.dnsperf_seconds = args.dnsperf_seconds or (2.0 if args.quick else 5.0)
    if args.reps < 1 or args.targets < 1 or args.zones < 1:
        parser.error("--reps, --targets and --zones must be positive")
    try:
        args.concurrency_values = [int(v) for v in args.pydnsbl_concurrency.split(",") if v]
    except ValueError:
        parser.error("--pydnsbl-concurrency takes comma-separated integers")
    if not args.concurrency_values or min(args.concurrency_values) < 1:
        parser.error("--pydnsbl-concurrency takes positive integers")
    args.calibration_targets = max(1, min(args.calibration_targets or args.targets, args.targets))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line(__file__)
    tools, skipped = _select_tools(args.tools, args.delivermon_command)
    config = BenchConfig(seed=args.seed, zones=args.zones, targets=args.targets)
    zones = synthetic_zones.build_zones(config)
    print(
        f"# {config.targets:,} targets x {config.zones} zones = "
        f"{config.targets * config.zones:,} checks, {zones.listed_checks():,} listed",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="delivermon-bench-") as tmp:
        directory = Path(tmp)
        zone_files = synthetic_zones.write_zone_files(zones, directory)
        targets_file = directory / "targets.txt"
        synthetic_zones.write_targets_file(zones, targets_file)
        warmup_targets_file = directory / "warmup-targets.txt"
        warmup_targets_file.write_text("\n".join(zones.targets[:200]) + "\n")
        calibration_targets_file = directory / "calibration-targets.txt"
        calibration_targets_file.write_text(
            "\n".join(zones.targets[: args.calibration_targets]) + "\n"
        )
        queries_file = directory / "queries.txt"
        synthetic_zones.write_dnsperf_queries(zones, queries_file)
        with serve_zone_files(directory, zone_files, serial=synthetic_zones.SOA_SERIAL) as server:
            space = Workspace(
                zones,
                directory,
                targets_file,
                warmup_targets_file,
                calibration_targets_file,
                queries_file,
                server,
            )
            concurrency, calibration = _calibrate_pydnsbl(space, tools, args)
            records = _run_interleaved(space, tools, args, concurrency)
        if args.keep_workdir:
            kept = Path(tempfile.mkdtemp(prefix="delivermon-bench-kept-"))
            subprocess.run(["cp", "-a", f"{directory}/.", str(kept)], check=False, timeout=120)
            print(f"# workdir kept in {kept}", file=sys.stderr)
    summary = summarise(records, tools)
    table = render_table(summary, config, args.reps, concurrency)
    verdict_lines = render_target_check(summary)
    print(f"Command: `{command}`\n")
    if calibration:
        print(render_calibration(calibration, args.calibration_targets, config.zones))
        print()
    print(table)
    print()
    print("\n".join(verdict_lines))
    for note in skipped:
        print(f"\nSkipped: {note}")
    _print_mismatches(records)
    path = _write_results(
        args, command, config, zones, records, summary, table, skipped, calibration
    )
    print(f"\nResults: {path}")
    failed = [r for r in records if not r.ok]
    return 1 if failed else 0


def _select_tools(spec: str, delivermon_command: list[str] | None) -> tuple[list[str], list[str]]:
    names = {
        "dnsperf": DNSPERF,
        "pydnsbl": PYDNSBL_ASYNCIO,
        "pydnsbl-uvloop": PYDNSBL_UVLOOP,
        "delivermon": DELIVERMON_ASYNCIO,
        "delivermon-uvloop": DELIVERMON_UVLOOP,
    }
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise SystemExit(f"unknown tools: {unknown}; choose from {sorted(names)}")
    tools = [names[w] for w in wanted]
    skipped = []
    if DELIVERMON_ASYNCIO in tools or DELIVERMON_UVLOOP in tools:
        ok, reason = tool_runs.delivermon_available(delivermon_command)
        if not ok:
            tools = [t for t in tools if not t.startswith("delivermon")]
            skipped.append(f"delivermon (`delivermon check --help` failed: {reason})")
    if not _installed("uvloop"):
        for tool in (DELIVERMON_UVLOOP, PYDNSBL_UVLOOP):
            if tool in tools:
                tools.remove(tool)
                skipped.append(f"{tool}: uvloop is not installed (pip install uvloop)")
    if not _installed("pydnsbl"):
        for tool in PYDNSBL_TOOLS:
            if tool in tools:
                tools.remove(tool)
                skipped.append(f"{tool}: pydnsbl is not installed (pip install pydnsbl)")
    return tools, skipped


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _calibrate_pydnsbl(
    space: Workspace, tools: list[str], args: argparse.Namespace
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """pydnsbl's fastest concurrency on each loop with every verdict right, from one run
    per value on the calibration targets (after an unmeasured warm-up); with one value,
    that value."""
    values = args.concurrency_values
    chosen = dict.fromkeys(PYDNSBL_TOOLS, values[0])
    calibration: list[dict[str, Any]] = []
    if len(values) == 1:
        return chosen, calibration
    for tool in (t for t in tools if t in PYDNSBL_TOOLS):
        _run_tool(space, tool, rep=-1, args=args, warmup=True, concurrency=values[0])
        rates: dict[int, float | None] = {}
        mismatches: dict[int, int] = {}  # at each value
        for value in values:
            record = _run_tool(
                space, tool, rep=-2, args=args, warmup=False, concurrency=value, calibrate=True
            )
            rates[value] = record.checks_per_second if record.ok else None
            mismatches[value] = (record.correctness or {}).get("mismatches", 1)
            calibration.append(
                {
                    "tool": tool,
                    "concurrency": value,
                    "ok": record.ok,
                    "checks_per_second": record.checks_per_second,
                    "mismatches": (record.correctness or {}).get("mismatches"),
                    "note": record.note,
                }
            )
            print(
                f"# calibration {tool} concurrency {value}: {rates[value] or 0:,.0f} checks/s"
                f"{'' if record.ok else ' FAILED ' + record.note}",
                file=sys.stderr,
            )
        # A setting that loses answers (errors, timeouts) is not pydnsbl at its best:
        # only the values whose run matched the truth in every verdict are candidates.
        measured = {v: r for v, r in rates.items() if r and not mismatches.get(v)}
        measured = measured or {v: r for v, r in rates.items() if r}
        if measured:
            chosen[tool] = max(measured, key=lambda v: measured[v])
    return chosen, calibration


def _run_interleaved(
    space: Workspace, tools: list[str], args: argparse.Namespace, concurrency: dict[str, int]
) -> list[RunRecord]:
    # A short unmeasured pass first, so no tool pays for a cold page cache.
    for tool in tools:
        if tool != DNSPERF:
            _run_tool(
                space, tool, rep=-1, args=args, warmup=True, concurrency=concurrency.get(tool)
            )
    records = []
    for rep, tool in rotated(tools, args.reps):
        record = _run_tool(
            space, tool, rep=rep, args=args, warmup=False, concurrency=concurrency.get(tool)
        )
        rate = record.queries_per_second if tool == DNSPERF else record.checks_per_second
        progress(rep, args.reps, tool, f"{rate or 0:>10,.0f}/s", record)
        records.append(record)
    return records


def _run_tool(
    space: Workspace,
    tool: str,
    *,
    rep: int,
    args: argparse.Namespace,
    warmup: bool,
    concurrency: int | None = None,
    calibrate: bool = False,
) -> RunRecord:
    zones = space.zones
    if warmup:
        targets_file, targets = space.warmup_targets_file, 200
    elif calibrate:
        targets_file, targets = space.calibration_targets_file, args.calibration_targets
    else:
        targets_file, targets = space.targets_file, len(zones.targets)
    checks = targets * len(zones.zone_names)
    tag = f"{tool.split()[0]}-{LOOP.get(tool, 'none')}-rep{rep}-c{concurrency}"
    stdout_path = space.directory / f"{tag}.out"
    side_output = space.directory / f"{tag}.json"
    env: dict[str, str] | None = None
    parse: Callable[[], tool_runs.Verdicts | None]
    ok_codes = {0}
    server = space.server
    if tool == DNSPERF:
        argv = tool_runs.dnsperf_argv(
            space.queries_file, server.host, server.port, args.dnsperf_seconds
        )
        parse = _no_verdicts
    elif tool in PYDNSBL_TOOLS:
        argv = tool_runs.pydnsbl_argv(
            targets_file,
            server.address,
            zones.zone_names,
            side_output,
            loop=LOOP[tool],
            concurrency=concurrency or 200,
        )
        parse = functools.partial(_pydnsbl_verdicts, side_output)
    else:
        argv = tool_runs.delivermon_argv(
            targets_file, server.address, zones.zone_names, args.delivermon_command
        )
        # Unset (empty): what a plain install does, uvloop where installed.
        env = {"DELIVERMON_EVENT_LOOP": "" if tool == DELIVERMON_UVLOOP else "asyncio"}
        ok_codes = {0, 1, 3}  # 1: something listed (expected here), 3: unknowns
        parse = functools.partial(tool_runs.parse_delivermon_output, stdout_path)
    loadavg = os.getloadavg()
    before = server.query_count()
    measure = tool_runs.measure_process(
        argv,
        env=env,
        stdout_path=stdout_path,
        rusage_path=space.directory / f"{tag}.rusage",
        timeout=args.run_timeout,
    )
    after = server.query_count()
    queries = after - before if before is not None and after is not None else None
    ok = measure.returncode in ok_codes and not measure.timed_out
    note = "timed out" if measure.timed_out else ""
    if not ok and not note:
        note = f"exit {measure.returncode}: {measure.stderr_tail.strip()[-300:]}"
    record = RunRecord(
        tool=tool,
        rep=rep,
        ok=ok,
        wall_seconds=measure.wall_seconds,
        peak_rss_kib=measure.peak_rss_kib,
        cpu_seconds=measure.cpu_seconds,
        server_queries=queries,
        checks=checks,
        checks_per_second=None,
        queries_per_second=None,
        returncode=measure.returncode,
        note=note,
        loadavg_before=loadavg,
        concurrency=concurrency if tool in PYDNSBL_TOOLS else None,
    )
    if tool == DNSPERF:
        stats = tool_runs.parse_dnsperf(stdout_path.read_text(errors="replace"))
        record.queries_per_second = stats.get("queries_per_second")
        record.ok = ok and record.queries_per_second is not None
        record.note = note or json.dumps(stats)
        record.checks = 0
        return record
    record.checks_per_second = checks / measure.wall_seconds
    if queries is not None:
        record.queries_per_second = queries / measure.wall_seconds
    if tool in PYDNSBL_TOOLS and side_output.exists():
        record.inner_sweep_seconds = tool_runs.parse_pydnsbl_output(side_output)[1]
    if warmup or not ok:
        return record
    try:
        verdicts = parse()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        record.ok = False
        record.note = f"unreadable output: {exc!r}"
        return record
    if verdicts is not None:
        correctness = tool_runs.compare_with_truth(zones, verdicts, targets=targets)
        record.correctness = {**asdict(correctness), "percent_correct": correctness.percent_correct}
    return record


def _no_verdicts() -> None:
    return None


def _pydnsbl_verdicts(path: Path) -> tool_runs.Verdicts:
    return tool_runs.parse_pydnsbl_output(path)[0]


def summarise(records: list[RunRecord], tools: list[str]) -> dict[str, dict[str, Any]]:
    """Medians per tool, and per-repetition ratios paired with pydnsbl and dnsperf."""
    by_rep: dict[tuple[str, int], RunRecord] = {(r.tool, r.rep): r for r in records if r.ok}
    summary: dict[str, dict[str, Any]] = {}
    for tool in tools:
        runs = [r for r in records if r.tool == tool and r.ok]
        entry: dict[str, Any] = {"runs_ok": len(runs), "runs": sum(r.tool == tool for r in records)}
        if runs:
            entry["checks_per_second"] = _median([r.checks_per_second for r in runs])
            entry["queries_per_second"] = _median([r.queries_per_second for r in runs])
            entry["peak_rss_mib"] = _median([r.peak_rss_kib / 1024 for r in runs])
            entry["cpu_seconds"] = _median([r.cpu_seconds for r in runs])
            entry["wall_seconds"] = _median([r.wall_seconds for r in runs])
            entry["concurrency"] = runs[0].concurrency
            speed, rss, capacity = [], [], []
            for run in runs:
                base = by_rep.get((PEER.get(tool, ""), run.rep))
                if base and base.checks_per_second and run.checks_per_second:
                    speed.append(run.checks_per_second / base.checks_per_second)
                if base and base.peak_rss_kib:
                    rss.append(run.peak_rss_kib / base.peak_rss_kib)
                server = by_rep.get((DNSPERF, run.rep))
                rate = run.queries_per_second or run.checks_per_second
                if server and server.queries_per_second and rate:
                    capacity.append(rate / server.queries_per_second)
            entry["speedup_vs_pydnsbl"] = _median(speed)
            entry["rss_vs_pydnsbl"] = _median(rss)
            entry["fraction_of_capacity"] = _median(capacity)
            judged = [r.correctness for r in runs if r.correctness is not None]
            if judged:
                worst = max(judged, key=lambda c: c["mismatches"])
                entry["correctness_worst_run"] = worst
                entry["mismatches_all_runs"] = sum(c["mismatches"] for c in judged)
        summary[tool] = entry
    return summary


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def render_table(
    summary: dict[str, dict[str, Any]],
    config: BenchConfig,
    reps: int,
    concurrency: dict[str, int],
) -> str:
    header = (
        "| tool | loop | in flight | checks/s | wall s | CPU s | queries/s at server "
        "| x pydnsbl (same loop) | share of server capacity | peak RSS (MiB) "
        "| RSS ÷ pydnsbl | correct (mismatches) |"
    )
    lines = [
        f"{config.targets:,} IPs x {config.zones} zones = {config.targets * config.zones:,} "
        f"checks per run; medians of {reps} interleaved repetitions. pydnsbl runs at the "
        "concurrency its calibration found fastest on each loop; delivermon at its defaults "
        "(512 queries in flight).",
        "",
        header,
        "|" + "---|" * 12,
    ]
    for tool, entry in summary.items():
        if not entry.get("runs_ok"):
            lines.append(f"| {tool} | failed ({entry['runs']} runs) |" + " |" * 10)
            continue
        correctness = entry.get("correctness_worst_run")
        correct = (
            f"{correctness['checks'] - correctness['mismatches']:,}/{correctness['checks']:,} = "
            f"{correctness['percent_correct']:.3f}% ({correctness['mismatches']:,})"
            if correctness
            else "—"
        )
        is_dnsperf = tool == DNSPERF
        in_flight = (
            "500"
            if is_dnsperf
            else str(concurrency.get(tool, "—"))
            if tool in PYDNSBL_TOOLS
            else "512"
        )
        cells = [
            "nsd capacity (dnsperf)" if is_dnsperf else tool,
            LOOP.get(tool, "—"),
            in_flight,
            "—" if is_dnsperf else _fmt(entry["checks_per_second"], ",.0f"),
            _fmt(entry["wall_seconds"], ".2f"),
            _fmt(entry["cpu_seconds"], ".2f"),
            _fmt(entry["queries_per_second"], ",.0f"),
            _fmt(entry["speedup_vs_pydnsbl"], ".2f", "x") if tool in PEER else "—",
            "100%" if is_dnsperf else _fmt(_pct(entry["fraction_of_capacity"]), ".1f", "%"),
            _fmt(entry["peak_rss_mib"], ".1f"),
            _fmt(entry["rss_vs_pydnsbl"], ".2f") if tool in PEER else "—",
            correct,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_calibration(calibration: list[dict[str, Any]], targets: int, zones: int) -> str:
    """pydnsbl's checks/s at each concurrency tried, per loop (one run each)."""
    values = sorted({c["concurrency"] for c in calibration})
    tools = list(dict.fromkeys(c["tool"] for c in calibration))
    lines = [
        f"pydnsbl calibration: {targets:,} IPs x {zones} zones, one run per concurrency "
        "(checks/s; mismatches in brackets). The fastest is used below.",
        "",
        "| tool | " + " | ".join(f"concurrency {v}" for v in values) + " |",
        "|" + "---|" * (len(values) + 1),
    ]
    for tool in tools:
        cells = []
        for value in values:
            found = next(
                (c for c in calibration if c["tool"] == tool and c["concurrency"] == value), None
            )
            if found is None or not found["ok"]:
                cells.append("failed")
            else:
                cells.append(f"{found['checks_per_second']:,.0f} ({found['mismatches']})")
        lines.append(f"| {tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{format(value, spec)}{suffix}"


def render_target_check(summary: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 2's target, each delivermon run against pydnsbl on the same event loop."""
    lines = [
        f"Target: delivermon >= {TARGET_SPEEDUP:g}x pydnsbl's checks/s on the same event loop, "
        "<= 1/3 of its peak RSS, 100% correct."
    ]
    for tool in (DELIVERMON_UVLOOP, DELIVERMON_ASYNCIO):
        entry = summary.get(tool)
        if not entry or not entry.get("runs_ok"):
            continue
        speed, rss = entry.get("speedup_vs_pydnsbl"), entry.get("rss_vs_pydnsbl")
        mismatches = entry.get("mismatches_all_runs")
        parts = [
            _judge(
                speed is not None and speed >= TARGET_SPEEDUP,
                f"speed {_fmt(speed, '.2f')}x {PEER[tool]}",
            ),
            _judge(rss is not None and rss <= TARGET_RSS_FRACTION, f"RSS {_fmt(rss, '.2f')}"),
            _judge(mismatches == 0, f"mismatches {mismatches} over {entry['runs_ok']} runs"),
        ]
        lines.append(f"- {tool}: " + ", ".join(parts))
    for tool in PYDNSBL_TOOLS:
        entry = summary.get(tool)
        if entry and entry.get("runs_ok"):
            lines.append(
                f"- {tool}: mismatches {entry.get('mismatches_all_runs')} over "
                f"{entry['runs_ok']} runs"
            )
    return lines


def _judge(passed: bool, text: str) -> str:
    return f"{text} {'PASS' if passed else 'FAIL'}"


def _print_mismatches(records: list[RunRecord]) -> None:
    shown: set[str] = set()
    for record in records:
        c = record.correctness
        if record.tool in shown or not c or not c["mismatches"]:
            continue
        shown.add(record.tool)
        print(
            f"\n{record.tool} rep {record.rep + 1}: {c['mismatches']} mismatches "
            f"(wrong verdict {c['wrong_verdict']}, of which unknown {c['unknown']}; "
            f"wrong codes {c['wrong_codes']}; missing {c['missing']}), e.g.:"
        )
        for example in c["examples"]:
            print(f"  {example}")
    for record in records:
        if not record.ok:
            print(f"\nFAILED {record.tool} rep {record.rep + 1}: {record.note}")


def _write_results(
    args: argparse.Namespace,
    command: str,
    config: BenchConfig,
    zones: BenchZones,
    records: list[RunRecord],
    summary: dict[str, dict[str, Any]],
    table: str,
    skipped: list[str],
    calibration: list[dict[str, Any]],
) -> Path:
    results_dir: Path = args.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"dnsbl_sweep-{stamp}.json"
    document = {
        "command": command,
        "finished_at": stamp,
        "config": asdict(config),
        "checks_per_run": len(zones.targets) * len(zones.zone_names),
        "listed_checks": zones.listed_checks(),
        "environment": _environment(),
        "skipped": skipped,
        "summary": summary,
        "table_markdown": table,
        "pydnsbl_calibration": calibration,
        "runs": [asdict(r) for r in records],
    }
    path.write_text(json.dumps(document, indent=2))
    return path


def _environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in ("delivermon", "pydnsbl", "aiodns", "pycares", "uvloop", "dnspython"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    dnsperf = subprocess.run(
        ["dnsperf", "-h"], capture_output=True, text=True, timeout=10, check=False
    )
    dnsperf_version = next(
        (line for line in (dnsperf.stdout + dnsperf.stderr).splitlines() if "Version" in line), ""
    )
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "nsd": nsd_version(),
        "dnsperf": dnsperf_version.strip(),
        "packages": versions,
    }


if __name__ == "__main__":
    sys.exit(main())
