"""DMARC aggregate report benchmark: delivermon against parsedmarc (offline), same files,
same process model, in one run; plus delivermon's peak RSS on generated 10 MB and 100 MB
reports.

Run on demand (``make bench-dmarc``), never in CI. Inputs are generated here with a
fixed seed (gzip, like the reports receivers send); the generator's own counts are the
independent truth every tool's output is checked against (records and messages per
report). Each tool runs in a fresh process of its own, one after the other (repetitions
rotated), parsing the same files one by one in a single thread; a warm-up file goes
first through the same path that is timed, untimed (parsedmarc loads its maps and IP
database, parsedmarc-save also writes it once; delivermon-store ingests it, loading the
public suffix list the reporter's name is read with). Tools:

* ``parsedmarc``: ``parse_report_file(path, config=ParserConfig(offline=True,
  always_use_local_files=True))`` (no DNS; its bundled IP database still enriches each
  record), parsedmarc 11.1.0 in its own venv (``--parsedmarc-python``).
* ``parsedmarc-save``: the same, then ``save_output(results, output_directory=...)``, its
  documented file output (aggregate JSON and CSV), as its CLI does after parsing.
* ``delivermon-parse``: ``parse_dmarc(bytes)``, the parser alone; compared with
  ``parsedmarc``.
* ``delivermon-store``: parse and store through the ingest path the CLI, HTTP route and
  IMAP poller share, into a fresh SQLite store (dedup, rows, one transaction each);
  compared with ``parsedmarc-save``.

See bench/DMARC.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for path in (str(REPO), str(REPO / "tests"), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from repetitions import command_line, own_peak_rss_kib, rotated  # noqa: E402

TOOLS = ("parsedmarc", "parsedmarc-save", "delivermon-parse", "delivermon-store")
BREAKDOWN = "delivermon-breakdown"  # one instrumented delivermon-store run, not a tool
PEERS = {"delivermon-parse": "parsedmarc", "delivermon-store": "parsedmarc-save"}
RESULTS_DIR = BENCH / "results"
DEFAULT_PARSEDMARC = REPO / ".venv-parsedmarc" / "bin" / "python"
BEGIN = 1_764_892_800
TARGET_RATIO = 5  # issue 13: at least 5x parsedmarc's rate
FLAT_MIB = 10  # "memory that does not grow with report size", with room for noise


# --- inputs ---------------------------------------------------------------------------


def _row_xml(rng: random.Random, pool: list[str]) -> tuple[str, int]:
    from dmarcreports import Row

    count = rng.randint(1, 500)
    passing = rng.random() < 0.8
    row = Row(
        rng.choice(pool),
        count,
        dkim="pass" if passing else "fail",
        spf="pass" if passing else "fail",
        disposition="none" if passing else rng.choice(["none", "quarantine", "reject"]),
        dkim_result="pass" if passing else "fail",
        spf_result="pass" if passing else "fail",
        selector=rng.choice(["s1", "s2", "google"]),
    )
    return row.xml(), count


def _pool(rng: random.Random, size: int) -> list[str]:
    return [
        f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(size)
    ]


def _report(rng: random.Random, pool: list[str], report_id: str, records: int) -> tuple[bytes, int]:
    from dmarcreports import aggregate_xml

    head = aggregate_xml([], report_id=report_id, begin=BEGIN + rng.randint(0, 30) * 86_400)
    body, messages = [], 0
    for _ in range(records):
        xml, count = _row_xml(rng, pool)
        body.append(xml)
        messages += count
    xml = head.replace(b"</feedback>\n", b"") + "".join(body).encode() + b"</feedback>\n"
    return xml, messages


def generate(directory: Path, reports: int, seed: int) -> dict[str, tuple[int, int]]:
    """``reports`` gzip reports of 1 to 60 records; returns {name: (records, messages)}."""
    rng = random.Random(seed)
    pool = _pool(rng, 500)
    truth = {}
    for n in range(reports + 1):  # report 0 is the warm-up
        records = rng.randint(1, 60)
        xml, messages = _report(rng, pool, f"bench-{seed}-{n}", records)
        name = f"r{n:05d}.xml.gz"
        (directory / name).write_bytes(gzip.compress(xml, compresslevel=6))
        truth[name] = (records, messages)
    return truth


def generate_big(directory: Path, megabytes: int, seed: int) -> tuple[str, int, int]:
    """One report of about ``megabytes`` MB of XML (gzip), its sources from 2,000 IPs."""
    rng = random.Random(seed + megabytes)
    pool = _pool(rng, 2_000)
    name = f"big-{megabytes}mb.xml.gz"
    from dmarcreports import aggregate_xml

    head = aggregate_xml([], report_id=f"big-{megabytes}").replace(b"</feedback>\n", b"")
    size, records, messages = len(head), 0, 0
    with gzip.open(directory / name, "wb", compresslevel=6) as out:
        out.write(head)
        while size < megabytes * 1_000_000:
            chunk = []
            for _ in range(1000):
                xml, count = _row_xml(rng, pool)
                chunk.append(xml)
                records += 1
                messages += count
            data = "".join(chunk).encode()
            out.write(data)
            size += len(data)
        out.write(b"</feedback>\n")
    return name, records, messages


# --- workers (one fresh process per run) -----------------------------------------------


def _parsedmarc_worker(files: list[Path], save: Path | None) -> dict[str, Any]:
    from parsedmarc import ParserConfig, parse_report_file, save_output

    config = ParserConfig(offline=True, always_use_local_files=True)
    warm = parse_report_file(str(files[0]), config=config)["report"]  # maps, IP database
    if save is not None:  # the same path as timed: its first save's imports and files
        output = {"aggregate_reports": [warm], "failure_reports": [], "smtp_tls_reports": []}
        save_output(output, output_directory=str(save.with_name("warm-up")))  # type: ignore[arg-type]
    results = {}
    reports = []
    start = time.perf_counter()
    for path in files[1:]:
        report = parse_report_file(str(path), config=config)["report"]
        reports.append(report)
        records = report["records"]
        results[path.name] = (len(records), sum(int(r["count"]) for r in records))
    if save is not None:
        output = {"aggregate_reports": reports, "failure_reports": [], "smtp_tls_reports": []}
        save_output(output, output_directory=str(save))  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - start, "results": results}


def _delivermon_worker(files: list[Path], store: bool, workdir: Path) -> dict[str, Any]:
    from monitor.ingest.dmarc import parse_dmarc

    if not store:
        parse_dmarc(files[0].read_bytes())  # warm-up
        results = {}
        start = time.perf_counter()
        for path in files[1:]:
            report = parse_dmarc(path.read_bytes())
            results[path.name] = (report.records, report.messages)
        return {"seconds": time.perf_counter() - start, "results": results}
    return asyncio.run(_store_all(files, workdir))


async def _store_all(
    files: list[Path], workdir: Path, warmed: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Ingest ``files[0]`` untimed (the warm-up: the first ingest loads the public suffix
    list), call ``warmed``, then time the rest."""
    from monitor.ingest.dmarc.service import ingest_dmarc
    from monitor.ingest.kinds import IngestContext
    from monitor.model.privacy import Pseudonymizer
    from monitor.store import open_store

    store = await open_store(f"sqlite:///{workdir / 'bench.db'}")
    context = IngestContext(
        store=store,
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=(),
        store_raw=False,
        now=dt.datetime.now(dt.UTC),
    )
    await ingest_dmarc(files[0].read_bytes(), context)
    if warmed is not None:
        warmed()
    results = {}
    start = time.perf_counter()
    try:
        for path in files[1:]:
            outcome = await ingest_dmarc(path.read_bytes(), context)
            assert not outcome.duplicate, path
            fields = outcome.fields
            results[path.name] = (int(fields["records"]), int(fields["messages"]))  # type: ignore[call-overload]
    finally:
        seconds = time.perf_counter() - start
        await store.close()
    return {"seconds": seconds, "results": results}


def _breakdown_worker(files: list[Path], workdir: Path) -> dict[str, Any]:
    """delivermon-store once more, with its parse and its write plans timed (wrappers
    around the functions that run them: in the event loop's thread for a small report,
    in the driver's otherwise), and the parse alone before it."""
    import monitor.ingest.dmarc.service as service
    import monitor.store.engine as engine
    from monitor.ingest.dmarc import parse_dmarc

    parse_dmarc(files[0].read_bytes())
    start = time.perf_counter()
    for path in files[1:]:
        parse_dmarc(path.read_bytes())
    alone = time.perf_counter() - start
    spent = {"parse": 0.0, "writes": 0.0}

    def timed(bucket: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[bucket] += time.perf_counter() - began

        return wrapper

    service.parse_dmarc = timed("parse", service.parse_dmarc)  # type: ignore[assignment]
    engine.run_on_sqlite3 = timed("writes", engine.run_on_sqlite3)
    engine.run_on_sqlite3_at_once = timed("writes", engine.run_on_sqlite3_at_once)
    out = asyncio.run(_store_all(files, workdir, lambda: spent.update(parse=0.0, writes=0.0)))
    return {**out, "parse_alone": alone, **spent}


def worker(tool: str, files: list[Path], workdir: Path) -> None:
    if tool == BREAKDOWN:
        out = _breakdown_worker(files, workdir)
    elif tool.startswith("parsedmarc"):
        out = _parsedmarc_worker(files, workdir / "output" if tool == "parsedmarc-save" else None)
    else:
        out = _delivermon_worker(files, tool == "delivermon-store", workdir)
    out["maxrss_kib"] = own_peak_rss_kib()
    json.dump(out, sys.stdout)


def run_worker(python: str, tool: str, files: list[Path], workdir: Path) -> dict[str, Any]:
    listing = workdir / "files.txt"
    listing.write_text("\n".join(str(f) for f in files))
    proc = subprocess.run(
        [python, __file__, "--worker", tool, "--files", str(listing), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TZ": "UTC", "PYTHONPATH": str(REPO)},
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# --- the run ----------------------------------------------------------------------------


def _check(tool: str, got: dict[str, list[int]], truth: dict[str, tuple[int, int]]) -> int:
    wrong = [name for name, want in truth.items() if tuple(got.get(name, ())) != want]
    if wrong:
        print(f"# {tool}: {len(wrong)} report(s) disagree with the generator, e.g. {wrong[0]}")
    return len(wrong)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--big", default="10,100", help="sizes in MB of the RSS reports")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--parsedmarc-python", default=str(DEFAULT_PARSEDMARC))
    parser.add_argument("--worker", choices=(*TOOLS, BREAKDOWN), help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        files = [Path(p) for p in Path(args.files).read_text().splitlines()]
        worker(args.worker, files, Path(args.workdir))
        return 0
    if not Path(args.parsedmarc_python).exists():
        print(
            f"parsedmarc's python not found: {args.parsedmarc_python} (make bench-dmarc makes it)"
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="dmarc-bench-") as tmp:
        return _run(args, Path(tmp))


def _run(args: argparse.Namespace, tmp: Path) -> int:
    inputs = tmp / "inputs"
    inputs.mkdir()
    truth = generate(inputs, args.reports, args.seed)
    files = [inputs / name for name in sorted(truth)]
    del truth[files[0].name]  # the warm-up
    records = sum(r for r, _ in truth.values())
    pythons = dict.fromkeys(TOOLS, sys.executable)
    pythons |= {"parsedmarc": args.parsedmarc_python, "parsedmarc-save": args.parsedmarc_python}
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    wrong = 0
    for rep, tool in rotated(TOOLS, args.reps):
        workdir = tmp / f"{tool}-{rep}"
        workdir.mkdir()
        out = run_worker(pythons[tool], tool, files, workdir)
        wrong += _check(tool, out["results"], truth)
        runs[tool].append(out)
        print(f"# rep {rep + 1}/{args.reps} {tool:18} {out['seconds']:7.2f}s", file=sys.stderr)
    table = {}
    for tool in TOOLS:
        seconds = statistics.median(r["seconds"] for r in runs[tool])
        table[tool] = {
            "seconds": seconds,
            "reports_per_s": len(truth) / seconds,
            "records_per_s": records / seconds,
            "peak_rss_mib": statistics.median(r["maxrss_kib"] for r in runs[tool]) / 1024,
        }
    big = []
    for megabytes in (int(m) for m in args.big.split(",") if m):
        name, big_records, big_messages = generate_big(inputs, megabytes, args.seed)
        workdir = tmp / f"big-{megabytes}"
        workdir.mkdir()
        out = run_worker(sys.executable, "delivermon-store", [files[0], inputs / name], workdir)
        wrong += _check(
            f"delivermon-store {name}", out["results"], {name: (big_records, big_messages)}
        )
        big.append(
            {
                "xml_mb": megabytes,
                "gzip_mb": (inputs / name).stat().st_size / 1e6,
                "records": big_records,
                "seconds": out["seconds"],
                "peak_rss_mib": out["maxrss_kib"] / 1024,
            }
        )
    baseline = run_worker(sys.executable, "delivermon-parse", [files[0]], tmp)
    workdir = tmp / BREAKDOWN
    workdir.mkdir()
    breakdown = run_worker(sys.executable, BREAKDOWN, files, workdir)
    wrong += _check(BREAKDOWN, breakdown.pop("results"), truth)
    _print(args, table, big, baseline["maxrss_kib"] / 1024, len(truth), records, wrong)
    _print_breakdown(breakdown)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"dmarc-{stamp}.json").write_text(
        json.dumps(
            {
                "command": command_line(__file__),
                "table": table,
                "big": big,
                "breakdown": breakdown,
            },
            indent=1,
        )
    )
    return 1 if wrong else 0


def _print(
    args: argparse.Namespace,
    table: dict[str, dict[str, float]],
    big: list[dict[str, float]],
    baseline_mib: float,
    reports: int,
    records: int,
    wrong: int,
) -> None:
    print(f"command: {command_line(__file__)}")
    print(
        f"machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start of printing"
    )
    print(f"workload: {reports} gzip aggregate reports, {records} records, median of {args.reps}")
    print()
    print("| tool | seconds | reports/s | records/s | rate vs its peer | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for tool, row in table.items():
        peer = PEERS.get(tool)
        ratio = f"{table[peer]['seconds'] / row['seconds']:.1f}x {peer}" if peer else "(peer)"
        print(
            f"| {tool} | {row['seconds']:.2f} | {row['reports_per_s']:.0f} | "
            f"{row['records_per_s']:.0f} | {ratio} | {row['peak_rss_mib']:.0f} |"
        )
    print()
    print(f"delivermon-store on one large report (process baseline {baseline_mib:.0f} MiB):")
    print()
    print("| XML MB | gzip MB | records | seconds | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for row in big:
        print(
            f"| {row['xml_mb']} | {row['gzip_mb']:.1f} | {row['records']} | "
            f"{row['seconds']:.1f} | {row['peak_rss_mib']:.0f} |"
        )
    print()
    for tool, peer in PEERS.items():
        ratio = table[peer]["seconds"] / table[tool]["seconds"]
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(f"target: {tool} at least {TARGET_RATIO}x {peer}: {ratio:.1f}x {verdict}")
    if len(big) > 1:
        growth = big[-1]["peak_rss_mib"] - big[0]["peak_rss_mib"]
        verdict = "PASS" if growth <= FLAT_MIB else "FAIL"
        print(
            f"target: peak RSS flat from {big[0]['xml_mb']} to {big[-1]['xml_mb']} MB of XML "
            f"(at most {FLAT_MIB} MiB more): {growth:+.0f} MiB {verdict}"
        )
    print("every tool agreed with the generator" if not wrong else f"{wrong} disagreements")


def _print_breakdown(run: dict[str, float]) -> None:
    seconds, parse, writes = run["seconds"], run["parse"], run["writes"]
    print()
    print(
        f"where delivermon-store's time goes (one more run, instrumented): parse alone "
        f"{run['parse_alone']:.2f} s; the store run {seconds:.2f} s = parse {parse:.2f} s + "
        f"the write plans {writes:.2f} s (SQLite and the rows' bind values) + "
        f"the rest {seconds - parse - writes:.2f} s "
        "(hand-offs, checkpoints, the ingest around them)"
    )


if __name__ == "__main__":
    sys.exit(main())
