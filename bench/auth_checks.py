"""Authentication benchmark: SPF+DMARC+DKIM of generated domains; delivermon, checkdmarc, pyspf.

Run on demand, never in CI:
`.venv/bin/python bench/auth_checks.py [--domains N] [--reps N] [--quick]`.
One local NSD serves the generated zones; every tool runs as its own process under
GNU time, interleaved over several repetitions. The peers are synchronous libraries
with no concurrent mode, so delivermon runs both ways: one domain at a time, as they
do (the comparison), and many at once (as the daemon does). Reports ms per domain
(medians), wall and CPU seconds, paired ratios, peak RSS, and every tool's results
against the truth the generator wrote with the zones (SPF result for the sending IP,
SPF record validity, DMARC policy, DKIM key size and state). See bench/AUTH.md.
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
# Time ratios are against delivermon run as the peers run: one domain at a time, on the
# event loop a plain install uses.
BASELINE = "delivermon (uvloop, one at a time)"
SERIAL, CONCURRENT = "1", "64"  # delivermon's --concurrency in the two modes
# tool label -> (driver tool, extra driver arguments, what it checks)
TOOLS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "delivermon (uvloop, one at a time)": (
        "delivermon",
        ("--loop", "uvloop", "--concurrency", SERIAL),
        "SPF+DMARC+DKIM",
    ),
    "delivermon (asyncio, one at a time)": (
        "delivermon",
        ("--loop", "asyncio", "--concurrency", SERIAL),
        "SPF+DMARC+DKIM",
    ),
    "delivermon (uvloop, 64 at once)": (
        "delivermon",
        ("--loop", "uvloop", "--concurrency", CONCURRENT),
        "SPF+DMARC+DKIM",
    ),
    "delivermon (asyncio, 64 at once)": (
        "delivermon",
        ("--loop", "asyncio", "--concurrency", CONCURRENT),
        "SPF+DMARC+DKIM",
    ),
    "delivermon SPF only (uvloop, one at a time)": (
        "delivermon",
        ("--loop", "uvloop", "--concurrency", SERIAL, "--checks", "spf"),
        "SPF",
    ),
    "checkdmarc": ("checkdmarc", (), "SPF+DMARC"),
    "pyspf": ("pyspf", (), "SPF (one IP)"),
}
TOOL_KEYS = {
    "delivermon": "delivermon (uvloop, one at a time)",
    "delivermon-asyncio": "delivermon (asyncio, one at a time)",
    "delivermon-concurrent": "delivermon (uvloop, 64 at once)",
    "delivermon-asyncio-concurrent": "delivermon (asyncio, 64 at once)",
    "delivermon-spf": "delivermon SPF only (uvloop, one at a time)",
    "checkdmarc": "checkdmarc",
    "pyspf": "pyspf",
}
# What each tool's output says about each fact of the truth (auth_zones.Truth).
FACTS = ("spf_result", "spf_valid", "dmarc_policy", "dkim")
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
    agreement = compare_with_truth(zones, records, outputs)
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
    for tool in list(tools):
        extra = TOOLS[tool][1]
        distribution = (
            "uvloop" if "uvloop" in extra else tool if tool in ("checkdmarc", "pyspf") else None
        )
        if distribution and not _version(distribution):
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


def _facts(tool: str, row: dict[str, Any]) -> dict[str, object]:
    """The facts of the truth that ``tool``'s output states, in the truth's terms."""
    found: dict[str, object] = {}
    if "spf_result" in row:
        found["spf_result"] = row["spf_result"]
    if "spf_valid" in row:  # checkdmarc: the record and its tree valid
        found["spf_valid"] = bool(row["spf_valid"])
    if "dmarc_policy" in row:
        found["dmarc_policy"] = row["dmarc_policy"]
    if "dkim_bits" in row:
        found["dkim"] = (row["dkim_bits"], row["dkim_state"])
    return found


def _expected(domain: auth_zones.AuthDomain) -> dict[str, object]:
    truth = domain.truth
    return {
        "spf_result": truth.spf_result,
        "spf_valid": truth.spf_valid,
        "dmarc_policy": truth.dmarc_policy,
        "dkim": (truth.dkim_bits, truth.dkim_state),
    }


def compare_with_truth(
    zones: AuthZones, records: list[RunRecord], outputs: dict[tuple[str, int], dict[str, Any]]
) -> dict[str, Any]:
    """Every fact every tool states, for every domain, against the generator's truth.

    Per tool and fact: the worst repetition's agreement; every distinct disagreement is
    listed once, with the repetitions it occurred in.
    """
    per_tool: dict[str, dict[str, dict[str, int]]] = {}
    disagreements: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for record in records:
        if not record.ok:
            continue
        rows = outputs[(record.tool, record.rep)]
        agree: dict[str, int] = {}
        for domain in zones.domains:
            row = rows.get(domain.name, {})
            expected = _expected(domain)
            for fact, got in _facts(record.tool, row).items():
                want = expected[fact]
                agree[fact] = agree.get(fact, 0) + (got == want)
                if got == want:
                    continue
                key = (record.tool, domain.name, fact, repr(got))
                disagreements.setdefault(
                    key,
                    {
                        "tool": record.tool,
                        "domain": domain.name,
                        "fact": fact,
                        "got": got,
                        "truth": want,
                        "spf_scenario": domain.spf_scenario,
                        "dmarc_scenario": domain.dmarc_scenario,
                        "dkim_scenario": domain.dkim_scenario,
                        "apex_txt": list(domain.apex_txt),
                        "ip": domain.sending_ip,
                        "explanation": row.get("explanation") or row.get("spf_error"),
                        "findings": row.get("spf_findings"),
                        "reps": [],
                    },
                )["reps"].append(record.rep + 1)
        worst = per_tool.setdefault(record.tool, {})
        for fact, count in agree.items():
            entry = worst.setdefault(fact, {"agree": count, "of": len(zones.domains)})
            entry["agree"] = min(entry["agree"], count)
    distribution: dict[str, int] = {}
    for domain in zones.domains:
        result = domain.truth.spf_result
        distribution[result] = distribution.get(result, 0) + 1
    return {
        "per_tool": per_tool,
        "truth_spf_distribution": dict(sorted(distribution.items())),
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
    """Medians per tool, and per-repetition ratios paired with the baseline delivermon run."""
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
            entry["wall_seconds"] = _median([r.wall_seconds for r in runs])
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
        f"(tool ÷ {BASELINE}; above 1 = slower than it). Results against the generator's "
        "truth: the worst repetition.",
        "",
        "| tool | checks | ms/domain (process) | x delivermon | ms/domain (in loop) "
        "| x delivermon (in loop) | wall s | CPU s | DNS queries/domain | peak RSS (MiB) "
        "| = truth |",
        "|" + "---|" * 11,
    ]
    per_tool = agreement["per_tool"]
    for tool, entry in summary.items():
        if not entry.get("runs_ok"):
            lines.append(f"| {tool} | failed ({entry['runs']} runs) |" + " |" * 9)
            continue
        queries = entry.get("server_queries")
        cells = [
            tool,
            TOOLS[tool][2],
            _fmt(entry["ms_per_domain"], ".3f"),
            "—" if tool == BASELINE else _fmt(entry["time_vs_delivermon"], ".2f", "x"),
            _fmt(entry["inner_ms_per_domain"], ".3f"),
            "—" if tool == BASELINE else _fmt(entry["inner_time_vs_delivermon"], ".2f", "x"),
            _fmt(entry["wall_seconds"], ".2f"),
            _fmt(entry["cpu_seconds"], ".2f"),
            _fmt(None if queries is None else queries / config.domains, ".1f"),
            _fmt(entry["peak_rss_mib"], ".1f"),
            _truth_cell(per_tool.get(tool, {})),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_FACT_NAMES = {
    "spf_result": "SPF",
    "spf_valid": "SPF valid",
    "dmarc_policy": "DMARC",
    "dkim": "DKIM",
}


def _truth_cell(facts: dict[str, dict[str, int]]) -> str:
    return (
        ", ".join(
            f"{_FACT_NAMES[f]} {facts[f]['agree']:,}/{facts[f]['of']:,}"
            for f in FACTS
            if f in facts
        )
        or "—"
    )


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{format(value, spec)}{suffix}"


# The comparisons the target is judged on: the same work or less by the peer, run the same
# way (one domain at a time). checkdmarc checks SPF and DMARC, pyspf SPF for one IP.
TARGET_PAIRS = (
    ("delivermon (uvloop, one at a time)", "checkdmarc"),
    ("delivermon SPF only (uvloop, one at a time)", "pyspf"),
)


def render_target_check(
    summary: dict[str, dict[str, Any]], agreement: dict[str, Any], records: list[RunRecord]
) -> list[str]:
    """Issue 3's target: delivermon faster per domain than each peer doing the same work or
    less, both one domain at a time; every result equal to the truth. The other pairings
    (asyncio, the concurrent mode) are reported beside it."""
    lines = [
        "Target: delivermon, run as the peers run (one domain at a time, uvloop as installed), "
        "faster per domain than checkdmarc (full check against its SPF+DMARC) and pyspf "
        "(SPF only against SPF) (median over the repetitions of peer wall time ÷ delivermon "
        "wall time, above 1); every result of every tool equal to the generator's truth."
    ]
    by_rep = {(r.tool, r.rep): r for r in records if r.ok}
    for tool in (t for t in TOOLS if t.startswith("delivermon")):
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
                parts.append(_judge(ratio > 1, text) if (tool, peer) in TARGET_PAIRS else text)
        facts = agreement["per_tool"].get(tool, {})
        exact = all(f["agree"] == f["of"] for f in facts.values())
        parts.append(_judge(bool(facts) and exact, _truth_cell(facts)))
        lines.append(f"- {tool}: " + ", ".join(parts))
    for peer in ("checkdmarc", "pyspf"):
        facts = agreement["per_tool"].get(peer)
        if facts:
            exact = all(f["agree"] == f["of"] for f in facts.values())
            lines.append(f"- {peer}: " + _judge(exact, _truth_cell(facts)))
    return lines


def _judge(passed: bool, text: str) -> str:
    return f"{text} {'PASS' if passed else 'FAIL'}"


def render_agreement(agreement: dict[str, Any]) -> list[str]:
    lines = [f"The truth's SPF results: {agreement['truth_spf_distribution']}"]
    rows = agreement["disagreements"]
    counts = agreement.get("lookup_counts_vs_checkdmarc")
    if counts:
        lines.append(
            f"SPF DNS-lookup counts equal to checkdmarc's: {counts['equal']}/{counts['compared']} "
            "(domains where checkdmarc reports a count)"
        )
        for row in counts["differ"][:10]:
            lines.append(f"  - {row}")
    lines.append(f"Disagreements with the truth (tool, domain, fact): {len(rows)}")
    for row in rows[:60]:
        lines.append(
            f"- {row['tool']} {row['domain']} {row['fact']}: {row['got']!r}, truth "
            f"{row['truth']!r} (reps {row['reps']}; SPF {row['spf_scenario']}, DMARC "
            f"{row['dmarc_scenario']}, DKIM {row['dkim_scenario']}, IP {row['ip']}); "
            f"TXT {row['apex_txt']}; says {row['explanation']!r}"
        )
    if len(rows) > 60:
        lines.append(f"  ... {len(rows) - 60} more in the results JSON")
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
        "delivermon_concurrency": {"one at a time": SERIAL, "at once": CONCURRENT},
        "spf_scenarios": dict(sorted(scenarios.items())),
        "environment": _environment(),
        "skipped": skipped,
        "summary": summary,
        "truth_agreement": agreement,
        "truth": {d.name: asdict(d.truth) for d in zones.domains},
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
