"""Authentication benchmark: SPF+DMARC+DKIM of generated domains; delivermon, checkdmarc, pyspf.

Run on demand, never in CI:
`.venv/bin/python bench/auth_checks.py [--domains N] [--reps N] [--quick]`.
One local NSD serves the generated zones; every tool runs as its own process under
GNU time, interleaved over several repetitions. Reports ms per domain (medians),
paired ratios to delivermon, peak RSS, and agreement of delivermon's SPF result for
each domain's sending IP with pyspf's. See bench/AUTH.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import auth_zones
import tool_runs
from auth_zones import AuthConfig, AuthZones
from repetitions import command_line, progress, rotated
from serve_zones import NsdServer, nsd_version, serve_zone_files

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DRIVER = BENCH_DIR / "auth_drivers.py"
BASELINE = "delivermon (asyncio)"
# tool label -> (driver tool, extra driver arguments, what it checks)
TOOLS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "delivermon (asyncio)": ("delivermon", ("--loop", "asyncio"), "SPF+DMARC+DKIM"),
    "delivermon (uvloop)": ("delivermon", ("--loop", "uvloop"), "SPF+DMARC+DKIM"),
    "delivermon SPF only": ("delivermon", ("--loop", "asyncio", "--checks", "spf"), "SPF"),
    "checkdmarc": ("checkdmarc", (), "SPF+DMARC"),
    "pyspf": ("pyspf", (), "SPF (one IP)"),
}
TOOL_KEYS = {
    "delivermon": "delivermon (asyncio)",
    "delivermon-uvloop": "delivermon (uvloop)",
    "delivermon-spf": "delivermon SPF only",
    "checkdmarc": "checkdmarc",
    "pyspf": "pyspf",
}
WARMUP_DOMAINS = 100


@dataclass(slots=True)
class RunRecord:
    """One measured run of one tool in one repetition."""

    tool: str
    rep: int
    ok: bool
    domains: int
    wall_seconds: float
    inner_seconds: float | None
    peak_rss_kib: int
    cpu_seconds: float
    server_queries: int | None
    returncode: int
    note: str = ""
    loadavg_before: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))
    output: Path | None = None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", type=int, default=None, help="domains (default 1000)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 5)")
    parser.add_argument("--quick", action="store_true", help="300 domains, 3 repetitions")
    parser.add_argument("--seed", type=int, default=auth_zones.DEFAULT_SEED)
    parser.add_argument(
        "--tools",
        default=",".join(TOOL_KEYS),
        help=f"comma-separated subset of {','.join(TOOL_KEYS)}",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="delivermon's semaphore")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="seconds per tool run")
    parser.add_argument("--keep-workdir", action="store_true", help="keep zones and outputs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    args.reps = args.reps or (3 if args.quick else 5)
    args.domains = args.domains or (300 if args.quick else 1_000)
    if args.reps < 1 or args.domains < 1:
        parser.error("--reps and --domains must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line(__file__)
    tools, skipped = _select_tools(args.tools)
    config = AuthConfig(seed=args.seed, domains=args.domains)
    with tempfile.TemporaryDirectory(prefix="delivermon-auth-bench-") as tmp:
        directory = Path(tmp)
        keys = auth_zones.generate_dkim_keys(directory)
        zones = auth_zones.build_zones(config, keys)
        zone_files = auth_zones.write_zone_files(zones, directory)
        domains_file = directory / "domains.json"
        pairs = [[d.name, d.sending_ip] for d in zones.domains]
        domains_file.write_text(json.dumps(pairs))
        warmup_file = directory / "warmup.json"
        warmup_file.write_text(json.dumps(pairs[:WARMUP_DOMAINS]))
        print(f"# {len(pairs):,} domains, tools: {', '.join(tools)}", file=sys.stderr)
        with serve_zone_files(directory, zone_files, serial=auth_zones.SOA_SERIAL) as server:
            records = _run_interleaved(directory, server, tools, args, domains_file, warmup_file)
        outputs = _load_outputs(records)
        if args.keep_workdir:
            kept = Path(tempfile.mkdtemp(prefix="delivermon-auth-bench-kept-"))
            subprocess.run(["cp", "-a", f"{directory}/.", str(kept)], check=False, timeout=120)
            print(f"# workdir kept in {kept} (it holds DKIM private keys)", file=sys.stderr)
    agreement = compare_spf(zones, records, outputs)
    summary = summarise(records, tools)
    table = render_table(summary, agreement, config, args.reps)
    print(f"Command: `{command}`\n")
    print(table)
    print()
    print("\n".join(render_target_check(summary, agreement, records)))
    print()
    print("\n".join(render_agreement(agreement)))
    for note in skipped:
        print(f"\nSkipped: {note}")
    for record in records:
        if not record.ok:
            print(f"\nFAILED {record.tool} rep {record.rep + 1}: {record.note}")
    path = _write_results(args, command, zones, records, summary, agreement, table, skipped)
    print(f"\nResults: {path}")
    return 1 if any(not r.ok for r in records) else 0


def _select_tools(spec: str) -> tuple[list[str], list[str]]:
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in TOOL_KEYS]
    if unknown:
        raise SystemExit(f"unknown tools: {unknown}; choose from {sorted(TOOL_KEYS)}")
    tools = [TOOL_KEYS[w] for w in wanted]
    skipped = []
    for tool, distribution in (
        ("delivermon (uvloop)", "uvloop"),
        ("checkdmarc", "checkdmarc"),
        ("pyspf", "pyspf"),
    ):
        if tool in tools and not _version(distribution):
            tools.remove(tool)
            skipped.append(f"{tool}: {distribution} is not installed (pip install {distribution})")
    return tools, skipped


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _run_interleaved(
    directory: Path,
    server: NsdServer,
    tools: list[str],
    args: argparse.Namespace,
    domains_file: Path,
    warmup_file: Path,
) -> list[RunRecord]:
    # An unmeasured pass first, so that no tool pays for a cold page cache.
    for tool in tools:
        _run_tool(directory, server, tool, -1, args, warmup_file, WARMUP_DOMAINS)
    records = []
    for rep, tool in rotated(tools, args.reps):
        record = _run_tool(directory, server, tool, rep, args, domains_file, args.domains)
        per_domain = 1000 * record.wall_seconds / record.domains
        progress(rep, args.reps, tool, f"{per_domain:8.3f} ms/domain", record)
        records.append(record)
    return records


def _run_tool(
    directory: Path,
    server: NsdServer,
    tool: str,
    rep: int,
    args: argparse.Namespace,
    domains_file: Path,
    domains: int,
) -> RunRecord:
    driver_tool, extra, _ = TOOLS[tool]
    tag = tool.replace(" ", "_").replace("(", "").replace(")", "") + f"-rep{rep}"
    out = directory / f"{tag}.json"
    argv = [sys.executable, str(DRIVER), driver_tool, "--domains-file", str(domains_file)]
    argv += ["--nameserver", server.address, "--out", str(out), *extra]
    if driver_tool == "delivermon":
        argv += ["--concurrency", str(args.concurrency)]
    loadavg = os.getloadavg()
    before = server.query_count()
    measure = tool_runs.measure_process(
        argv,
        env={"PYTHONPATH": str(BENCH_DIR.parent)},
        stdout_path=directory / f"{tag}.out",
        rusage_path=directory / f"{tag}.rusage",
        timeout=args.run_timeout,
    )
    after = server.query_count()
    ok = measure.returncode == 0 and not measure.timed_out and out.exists()
    note = "timed out" if measure.timed_out else ""
    if not ok and not note:
        note = f"exit {measure.returncode}: {measure.stderr_tail.strip()[-400:]}"
    inner = json.loads(out.read_text())["seconds"] if ok else None
    return RunRecord(
        tool=tool,
        rep=rep,
        ok=ok,
        domains=domains,
        wall_seconds=measure.wall_seconds,
        inner_seconds=inner,
        peak_rss_kib=measure.peak_rss_kib,
        cpu_seconds=measure.cpu_seconds,
        server_queries=after - before if before is not None and after is not None else None,
        returncode=measure.returncode,
        note=note,
        loadavg_before=loadavg,
        output=out if ok and rep >= 0 else None,
    )


def _load_outputs(records: list[RunRecord]) -> dict[tuple[str, int], dict[str, Any]]:
    outputs = {}
    for record in records:
        if record.output is not None:
            outputs[(record.tool, record.rep)] = json.loads(record.output.read_text())["results"]
    return outputs


def compare_spf(
    zones: AuthZones, records: list[RunRecord], outputs: dict[tuple[str, int], dict[str, Any]]
) -> dict[str, Any]:
    """delivermon's SPF result for each sending IP against pyspf's, per repetition.

    Each delivermon variant is paired with the pyspf run of the same repetition; the
    worst pairing is reported, and every distinct disagreement is listed once.
    """
    by_name = {d.name: d for d in zones.domains}
    pyspf_runs = {r.rep: outputs[(r.tool, r.rep)] for r in records if r.tool == "pyspf" and r.ok}
    per_tool: dict[str, Any] = {}
    disagreements: dict[tuple[str, str, str | None, str | None], dict[str, Any]] = {}
    for record in records:
        if not record.ok or not record.tool.startswith("delivermon"):
            continue
        reference = pyspf_runs.get(record.rep)
        if reference is None:
            continue
        ours = outputs[(record.tool, record.rep)]
        agree = 0
        for name, domain in by_name.items():
            mine = ours.get(name, {}).get("spf_result")
            theirs = reference.get(name, {}).get("spf_result")
            if mine == theirs:
                agree += 1
                continue
            key = (record.tool, name, mine, theirs)
            disagreements.setdefault(
                key,
                {
                    "tool": record.tool,
                    "domain": name,
                    "scenario": domain.spf_scenario,
                    "apex_txt": list(domain.apex_txt),
                    "ip": domain.sending_ip,
                    "delivermon": mine,
                    "pyspf": theirs,
                    "pyspf_explanation": reference.get(name, {}).get("explanation"),
                    "delivermon_findings": ours.get(name, {}).get("spf_findings"),
                    "reps": [],
                },
            )["reps"].append(record.rep + 1)
        worst = per_tool.setdefault(record.tool, {"agree": len(by_name), "of": len(by_name)})
        worst["agree"] = min(worst["agree"], agree)
    distribution: dict[str, int] = {}
    if pyspf_runs:
        first = pyspf_runs[min(pyspf_runs)]
        for row in first.values():
            distribution[row["spf_result"]] = distribution.get(row["spf_result"], 0) + 1
    return {
        "per_tool": per_tool,
        "pyspf_result_distribution": dict(sorted(distribution.items())),
        "disagreements": list(disagreements.values()),
        "lookup_counts_vs_checkdmarc": _compare_lookup_counts(records, outputs),
    }


def _compare_lookup_counts(
    records: list[RunRecord], outputs: dict[tuple[str, int], dict[str, Any]]
) -> dict[str, Any] | None:
    """delivermon's static `dns_lookups` against checkdmarc's, where checkdmarc gives one.

    Informational (not part of the target): checkdmarc drops the count when it
    reports an error, and the two count the same RFC 7208 §4.6.4 terms statically.
    """
    ours = next((outputs[(r.tool, r.rep)] for r in records if r.tool == BASELINE and r.ok), None)
    theirs = next(
        (outputs[(r.tool, r.rep)] for r in records if r.tool == "checkdmarc" and r.ok), None
    )
    if ours is None or theirs is None:
        return None
    compared, differ = 0, []
    for name, row in theirs.items():
        if row.get("spf_lookups") is None or name not in ours:
            continue
        compared += 1
        if ours[name].get("spf_lookups") != row["spf_lookups"]:
            differ.append(
                {
                    "domain": name,
                    "delivermon": ours[name].get("spf_lookups"),
                    "checkdmarc": row["spf_lookups"],
                    "record": ours[name].get("spf_record"),
                }
            )
    return {"compared": compared, "equal": compared - len(differ), "differ": differ}


def summarise(records: list[RunRecord], tools: list[str]) -> dict[str, dict[str, Any]]:
    """Medians per tool, and per-repetition ratios paired with the delivermon (asyncio) run."""
    by_rep = {(r.tool, r.rep): r for r in records if r.ok}
    summary: dict[str, dict[str, Any]] = {}
    for tool in tools:
        runs = [r for r in records if r.tool == tool and r.ok]
        entry: dict[str, Any] = {"runs_ok": len(runs), "runs": sum(r.tool == tool for r in records)}
        if runs:
            entry["ms_per_domain"] = _median([1000 * r.wall_seconds / r.domains for r in runs])
            entry["inner_ms_per_domain"] = _median(
                [1000 * r.inner_seconds / r.domains for r in runs if r.inner_seconds is not None]
            )
            entry["peak_rss_mib"] = _median([r.peak_rss_kib / 1024 for r in runs])
            entry["cpu_seconds"] = _median([r.cpu_seconds for r in runs])
            entry["server_queries"] = _median([r.server_queries for r in runs])
            wall, inner = [], []
            for run in runs:
                base = by_rep.get((BASELINE, run.rep))
                if base is None:
                    continue
                wall.append(run.wall_seconds / base.wall_seconds)
                if run.inner_seconds and base.inner_seconds:
                    inner.append(run.inner_seconds / base.inner_seconds)
            entry["time_vs_delivermon"] = _median(wall)
            entry["inner_time_vs_delivermon"] = _median(inner)
        summary[tool] = entry
    return summary


def _median(values: Sequence[float | int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def render_table(
    summary: dict[str, dict[str, Any]], agreement: dict[str, Any], config: AuthConfig, reps: int
) -> str:
    lines = [
        f"{config.domains:,} domains (seed {config.seed}), one sending IP each; medians of "
        f"{reps} interleaved repetitions. Time ratios are paired within each repetition "
        "(tool ÷ delivermon asyncio; above 1 = slower than delivermon).",
        "",
        "| tool | checks | ms/domain (process) | x delivermon | ms/domain (in loop) "
        "| x delivermon (in loop) | DNS queries/domain | peak RSS (MiB) | CPU s "
        "| SPF = pyspf |",
        "|" + "---|" * 10,
    ]
    per_tool = agreement["per_tool"]
    for tool, entry in summary.items():
        if not entry.get("runs_ok"):
            lines.append(f"| {tool} | failed ({entry['runs']} runs) |" + " |" * 8)
            continue
        queries = entry.get("server_queries")
        domains = config.domains
        same = per_tool.get(tool)
        cells = [
            tool,
            TOOLS[tool][2],
            _fmt(entry["ms_per_domain"], ".3f"),
            "—" if tool == BASELINE else _fmt(entry["time_vs_delivermon"], ".2f", "x"),
            _fmt(entry["inner_ms_per_domain"], ".3f"),
            "—" if tool == BASELINE else _fmt(entry["inner_time_vs_delivermon"], ".2f", "x"),
            _fmt(None if queries is None else queries / domains, ".1f"),
            _fmt(entry["peak_rss_mib"], ".1f"),
            _fmt(entry["cpu_seconds"], ".2f"),
            f"{same['agree']:,}/{same['of']:,}" if same else "—",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{format(value, spec)}{suffix}"


def render_target_check(
    summary: dict[str, dict[str, Any]], agreement: dict[str, Any], records: list[RunRecord]
) -> list[str]:
    """Issue 3's target: delivermon faster per domain than both peers, SPF identical to pyspf."""
    lines = [
        "Target: delivermon faster per domain than checkdmarc and pyspf (median over the "
        "repetitions of peer wall time ÷ delivermon wall time, above 1), SPF results = pyspf."
    ]
    by_rep = {(r.tool, r.rep): r for r in records if r.ok}
    for tool in ("delivermon (asyncio)", "delivermon (uvloop)", "delivermon SPF only"):
        entry = summary.get(tool)
        if not entry or not entry.get("runs_ok"):
            continue
        parts = []
        for peer in ("checkdmarc", "pyspf"):
            ratios = [
                by_rep[(peer, rep)].wall_seconds / run.wall_seconds
                for (name, rep), run in by_rep.items()
                if name == tool and (peer, rep) in by_rep
            ]
            ratio = _median(ratios)
            if ratio is not None:
                text = f"{peer} ÷ this = {ratio:.2f} (reps {min(ratios):.2f}-{max(ratios):.2f})"
                parts.append(_judge(ratio > 1, text))
        same = agreement["per_tool"].get(tool)
        if same:
            parts.append(_judge(same["agree"] == same["of"], f"SPF {same['agree']}/{same['of']}"))
        lines.append(f"- {tool}: " + ", ".join(parts))
    return lines


def _judge(passed: bool, text: str) -> str:
    return f"{text} {'PASS' if passed else 'FAIL'}"


def render_agreement(agreement: dict[str, Any]) -> list[str]:
    lines = [f"pyspf's results: {agreement['pyspf_result_distribution']}"]
    rows = agreement["disagreements"]
    counts = agreement.get("lookup_counts_vs_checkdmarc")
    if counts:
        lines.append(
            f"SPF DNS-lookup counts equal to checkdmarc's: {counts['equal']}/{counts['compared']} "
            "(domains where checkdmarc reports a count)"
        )
        for row in counts["differ"][:10]:
            lines.append(f"  - {row}")
    lines.append(f"SPF disagreements with pyspf: {len(rows)}")
    for row in rows:
        lines.append(
            f"- {row['tool']} {row['domain']} ({row['scenario']}), IP {row['ip']}: "
            f"delivermon {row['delivermon']}, pyspf {row['pyspf']} "
            f"(reps {row['reps']}); TXT {row['apex_txt']}; pyspf says {row['pyspf_explanation']!r}"
        )
    return lines


def _write_results(
    args: argparse.Namespace,
    command: str,
    zones: AuthZones,
    records: list[RunRecord],
    summary: dict[str, dict[str, Any]],
    agreement: dict[str, Any],
    table: str,
    skipped: list[str],
) -> Path:
    results_dir: Path = args.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"auth_checks-{stamp}.json"
    scenarios: dict[str, int] = {}
    for domain in zones.domains:
        scenarios[domain.spf_scenario] = scenarios.get(domain.spf_scenario, 0) + 1
    document = {
        "command": command,
        "finished_at": stamp,
        "config": asdict(zones.config),
        "concurrency": args.concurrency,
        "spf_scenarios": dict(sorted(scenarios.items())),
        "environment": _environment(),
        "skipped": skipped,
        "summary": summary,
        "spf_agreement": agreement,
        "table_markdown": table,
        "runs": [{**asdict(r), "output": None} for r in records],
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def _environment() -> dict[str, Any]:
    names = ("delivermon", "checkdmarc", "pyspf", "dnspython", "dkimpy", "uvloop")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "nsd": nsd_version(),
        "packages": {name: _version(name) for name in names},
    }


if __name__ == "__main__":
    sys.exit(main())
