"""Ingest benchmark: events/s through POST /api/v1/events and ARF reports/s through
POST /api/v1/feedback/arf, end to end into SQLite and PostgreSQL, with peak RSS.

Run on demand, never in CI. Every measured run starts a fresh store and the real
daemon, ``delivermon run`` (its HTTP middleware, its scheduled jobs, its default event
loop) under /usr/bin/time, drives it from this process with aiohttp and a bounded
number of requests in flight, stops it with SIGTERM, and reads the store back to check
that every acknowledged (202) item is there, with the totals known from the inputs
(bench/ingest_inputs.py: not delivermon's parser). Repetitions are interleaved and
every number is a median. See bench/INGEST.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import ingest_inputs  # noqa: E402
import ingest_pg  # noqa: E402
from ingest_inputs import ArfCorpus, EventBatch, EventTotals  # noqa: E402
from repetitions import command_line, rotated  # noqa: E402

RESULTS_DIR = BENCH / "results"
DELIVERMON = Path(sys.executable).with_name("delivermon")
PSEUDONYM_KEY = "delivermon-bench-pseudonym-key-0001"  # shared by every run
GNU_TIME = "/usr/bin/time"
PY_SPY = Path(sys.executable).parent / "py-spy"
HOST = "127.0.0.1"
TOKEN = "delivermon-bench-ingest-token"
EVENTS = "events"
ARF = "arf"
TARGETS = {EVENTS: 20_000.0, ARF: 600.0}  # issue 4 item 11, end to end into SQLite
UNITS = {EVENTS: "events/s", ARF: "reports/s"}
BACKENDS = {
    "sqlite": "SQLite (WAL, synchronous=NORMAL)",
    "postgresql": "PostgreSQL (fsync on)",
    "postgresql-nofsync": "PostgreSQL (fsync off)",
}
WARMUP = {EVENTS: 4, ARF: 100}  # requests sent before the clock starts (stored too)
REQUEST_TIMEOUT = 120.0


# --- options ------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--events", type=int, default=None, help="events per run (100000)")
    parser.add_argument("--reports", type=int, default=None, help="ARF reports per run (3000)")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 500 reports")
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help=f"comma-separated subset of {','.join(BACKENDS)}",
    )
    parser.add_argument("--workloads", default="events,arf", help="subset of events,arf")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (4)")
    parser.add_argument(
        "--duplicates",
        type=float,
        default=0.2,
        help="after each run, re-send this fraction of it and check it counts as duplicates "
        "(0 turns the pass off; default 0.2)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one extra SQLite run per workload with the server under cProfile; "
        "prints the top functions (not part of the table)",
    )
    parser.add_argument("--corpus", type=Path, default=ingest_inputs.DEFAULT_CORPUS)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--run-timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where stores live (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    args.events = args.events or (20_000 if args.quick else 100_000)
    args.reports = args.reports or (500 if args.quick else 3_000)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [b for b in args.backends if b not in BACKENDS]
    unknown += [w for w in args.workloads if w not in (EVENTS, ARF)]
    if unknown:
        parser.error(f"unknown backends or workloads: {unknown}")
    if args.reps < 1 or args.events < 1 or args.reports < 1 or not 1 <= args.concurrency <= 64:
        parser.error("--reps, --events, --reports must be positive, --concurrency 1-64")
    if not 0 <= args.duplicates <= 1:
        parser.error("--duplicates is a fraction between 0 and 1")
    return args


# --- records --------------------------------------------------------------------


@dataclass(slots=True)
class PassResult:
    """One pass of the client over a list of request bodies."""

    requests: int = 0
    acked_requests: int = 0
    acked_items: int = 0
    wall_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    server_cpu_seconds: float | None = None
    client_cpu_seconds: float = 0.0

    @property
    def rate(self) -> float | None:
        return self.acked_items / self.wall_seconds if self.wall_seconds else None


@dataclass(slots=True)
class RunRecord:
    backend: str
    workload: str
    rep: int
    ok: bool
    items: int  # items sent in the measured pass
    acked: int  # items acknowledged (202) in the measured pass
    rate: float | None  # acked / wall
    wall_seconds: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    server_cpu_busy: float | None  # server process CPU seconds / wall, during the pass
    client_cpu_busy: float | None
    peak_rss_kib: int | None
    server_cpu_seconds_total: float | None
    duplicate_rate: float | None
    duplicates_recognised: str | None
    correctness: dict[str, Any] | None
    note: str = ""
    loadavg_before: tuple[float, float, float] = (0.0, 0.0, 0.0)


# --- main -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line(__file__)
    if shutil.which(GNU_TIME) is None:
        print("# /usr/bin/time not found: peak RSS comes from os.wait4", file=sys.stderr)
    tag = dt.datetime.now(dt.UTC).strftime("%H%M%S")
    warm_events = WARMUP[EVENTS] * ingest_inputs.BATCH_SIZE
    batches = ingest_inputs.event_batches(args.events + warm_events, seed=args.seed, tag=tag)
    corpus = ingest_inputs.arf_reports(
        args.reports + WARMUP[ARF], corpus=args.corpus, seed=args.seed, tag=tag
    )
    print(
        f"# {len(batches) - WARMUP[EVENTS]} batches of {ingest_inputs.BATCH_SIZE} events, "
        f"{args.reports:,} ARF reports from {len(corpus.samples)} corpus samples "
        f"(mean {corpus.mean_bytes:,.0f} bytes, {corpus.feedback_types})",
        file=sys.stderr,
    )
    skipped: list[str] = []
    backends = list(args.backends)
    pg_backends = [b for b in backends if b.startswith("postgresql")]
    if pg_backends and (why := ingest_pg.missing_prerequisite()):
        skipped += [f"{b}: {why}" for b in pg_backends]
        backends = [b for b in backends if b not in pg_backends]
    records: list[RunRecord] = []
    clusters: dict[str, ingest_pg.PgCluster] = {}
    workdir = Path(tempfile.mkdtemp(prefix="delivermon-bench-ingest-", dir=args.workdir))
    versions: dict[str, str] = {}
    profiles: list[str] = []
    try:
        for backend in pg_backends:
            if backend in backends:
                cluster = ingest_pg.PgCluster(fsync=backend == "postgresql")
                clusters[backend] = cluster.start()
                versions["postgresql"] = cluster.version()
                print(f"# {BACKENDS[backend]} on port {cluster.port}", file=sys.stderr)
        combos = [(b, w) for b in backends for w in args.workloads]
        for rep, (backend, workload) in rotated(combos, args.reps):
            record = run_once(backend, workload, rep, args, batches, corpus, clusters, workdir)
            records.append(record)
            _progress(record, args.reps)
        if args.profile:
            for workload in args.workloads:
                profiles.append(profile_once(workload, args, batches, corpus, workdir, tag))
    finally:
        for cluster in clusters.values():
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(records, backends, args.workloads)
    table = render_table(summary, args, corpus)
    verdicts = render_target_check(summary)
    print(f"Command: `{command}`\n")
    print(table)
    print()
    print("\n".join(verdicts))
    for note in skipped:
        print(f"\nSkipped: {note}")
    for record in records:
        if not record.ok:
            print(
                f"\nFAILED {record.backend} {record.workload} rep {record.rep + 1}: {record.note}"
            )
    for text in profiles:
        print("\n" + text)
    path = _write_results(args, command, records, summary, table, skipped, corpus, versions)
    print(f"\nResults: {path}")
    return 0 if all(r.ok for r in records) else 1


def _progress(record: RunRecord, reps: int) -> None:
    print(
        f"# rep {record.rep + 1}/{reps} {record.backend:18} {record.workload:6} "
        f"{record.rate or 0:>10,.0f} {UNITS[record.workload]:9} "
        f"rss {(record.peak_rss_kib or 0) / 1024:6.1f} MiB "
        f"server cpu {record.server_cpu_busy or 0:4.0%} wall {record.wall_seconds:6.2f}s "
        f"{'ok' if record.ok else 'FAILED ' + record.note}",
        file=sys.stderr,
    )


# --- one run ----------------------------------------------------------------------


def _store_url(
    backend: str, name: str, clusters: dict[str, ingest_pg.PgCluster], workdir: Path
) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / (name + '.db')}"
    return clusters[backend].create_database(name)


def _drop_store(
    backend: str, name: str, clusters: dict[str, ingest_pg.PgCluster], workdir: Path
) -> None:
    if backend == "sqlite":
        for path in workdir.glob(name + ".db*"):
            path.unlink(missing_ok=True)
    else:
        clusters[backend].drop_database(name)


def run_once(
    backend: str,
    workload: str,
    rep: int,
    args: argparse.Namespace,
    batches: list[EventBatch],
    corpus: ArfCorpus,
    clusters: dict[str, ingest_pg.PgCluster],
    workdir: Path,
    profile: Path | None = None,
) -> RunRecord:
    name = f"bench_{workload}_{backend.replace('-', '_')}_r{rep}"
    url = _store_url(backend, name, clusters, workdir)
    loadavg = os.getloadavg()
    record = RunRecord(
        backend, workload, rep, False, 0, 0, None, 0.0, None, None, None, None, None, None,
        None, None, None, loadavg_before=loadavg,
    )  # fmt: skip
    server = ServerProcess(url, workdir / f"{name}", profile=profile)
    try:
        server.start()
        outcome = _arun(
            asyncio.wait_for(
                drive_workload(workload, server, args, batches, corpus), args.run_timeout
            )
        )
    except (TimeoutError, OSError, RuntimeError) as exc:
        record.note = f"{type(exc).__name__}: {exc}"
        server.stop()
        record.peak_rss_kib, record.server_cpu_seconds_total = server.rusage()
        _drop_store(backend, name, clusters, workdir)
        return record
    server.stop()
    record.peak_rss_kib, record.server_cpu_seconds_total = server.rusage()
    measured, duplicate_pass, expected, attempted = outcome
    record.items = measured.requests * (ingest_inputs.BATCH_SIZE if workload == EVENTS else 1)
    record.acked = measured.acked_items
    record.rate = measured.rate
    record.wall_seconds = measured.wall_seconds
    if measured.latencies_ms:
        lat = sorted(measured.latencies_ms)
        record.latency_p50_ms = statistics.median(lat)
        record.latency_p99_ms = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    if measured.server_cpu_seconds is not None and measured.wall_seconds:
        record.server_cpu_busy = measured.server_cpu_seconds / measured.wall_seconds
    if measured.wall_seconds:
        record.client_cpu_busy = measured.client_cpu_seconds / measured.wall_seconds
    if duplicate_pass is not None:
        record.duplicate_rate = duplicate_pass.rate
        record.duplicates_recognised = (
            f"{duplicate_pass.acked_items:,}/{duplicate_pass.requests * _per_request(workload):,}"
        )
    try:
        record.correctness = _arun(
            asyncio.wait_for(verify(url, workload, expected, attempted), 120)
        )
    except Exception as exc:  # any failure to read back is a failed run, reported
        record.note = f"verification failed: {type(exc).__name__}: {exc}"
        _drop_store(backend, name, clusters, workdir)
        return record
    _drop_store(backend, name, clusters, workdir)
    failures = Counter(measured.failures)
    if duplicate_pass is not None:
        failures.update({f"duplicate pass: {k}": v for k, v in duplicate_pass.failures.items()})
    problems = []
    if failures:
        problems.append(f"failed requests {dict(failures)}")
    if not record.correctness["ok"]:
        problems.append("store does not hold what was acknowledged")
    if duplicate_pass is not None and duplicate_pass.acked_items != (
        duplicate_pass.requests * _per_request(workload)
    ):
        problems.append("re-sent items not all recognised as duplicates")
    if server.returncode not in (0, None):
        problems.append(f"server exited {server.returncode}: {server.stderr_tail()}")
    record.ok = not problems
    record.note = "; ".join(problems)
    return record


def _arun(coro: Any) -> Any:
    """Run a coroutine on uvloop when installed (as the server does), else asyncio."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def _per_request(workload: str) -> int:
    return ingest_inputs.BATCH_SIZE if workload == EVENTS else 1


class ServerProcess:
    """``delivermon run`` with a config written for the run, under /usr/bin/time, in its own
    process group; ``server_pid`` is the daemon's own process (found under time/py-spy)."""

    def __init__(self, url: str, stem: Path, *, profile: Path | None) -> None:
        self.url = url
        self.port = ingest_pg.free_port()
        self.base = f"http://{HOST}:{self.port}"
        self._config = stem.with_suffix(".toml")
        self._rusage_file = stem.with_suffix(".rusage")
        self._stderr_file = stem.with_suffix(".stderr")
        self._profile = profile
        self._process: subprocess.Popen[bytes] | None = None
        self._wait_rusage: resource.struct_rusage | None = None
        self.server_pid: int | None = None
        self.returncode: int | None = None

    def _write_config(self) -> None:
        # The daemon as deployed for ingestion: an ingest token, the store, a configured
        # pseudonym key (required with PostgreSQL); no DNSBL zones or domains, so its check
        # jobs find nothing to do, while the campaigns, notify and purge jobs run as usual.
        self._config.write_text(
            "\n".join(
                [
                    "[http]",
                    f'listen = "{HOST}:{self.port}"',
                    f'ingest_token = "{TOKEN}"',
                    "[store]",
                    f"url = {json.dumps(self.url)}",
                    "[privacy]",
                    f'pseudonym_key = "{PSEUDONYM_KEY}"',
                    "[dnsbl]",
                    "zones = []",
                    "",
                ]
            )
        )

    def start(self) -> None:
        self._write_config()
        command = (
            [str(DELIVERMON)] if DELIVERMON.exists() else [sys.executable, "-m", "monitor.cli"]
        )
        if self._profile is not None and self._profile.suffix == ".prof":
            command = [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(self._profile),
                "-m",
                "monitor.cli",
            ]
        argv = [*command, "run", "--config", str(self._config)]
        if self._profile is not None and self._profile.suffix != ".prof":
            argv = [
                str(PY_SPY), "record", "--rate", "250", "--format", "raw", "--nonblocking",
                "-o", str(self._profile), "--", *argv,
            ]  # fmt: skip
        if shutil.which(GNU_TIME):
            argv = [GNU_TIME, "-f", "%M %U %S", "-o", str(self._rusage_file), *argv]
        env = {k: v for k, v in os.environ.items() if k != "DELIVERMON_EVENT_LOOP"}
        env["PYTHONPATH"] = str(REPO)
        with self._stderr_file.open("wb") as err:
            self._process = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"delivermon run exited at start: {self.stderr_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as response:
                    if response.status == 200:
                        self.server_pid = _daemon_pid(self._process.pid)
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("delivermon run did not answer /healthz within 60 s")

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server process so far (from /proc)."""
        if self.server_pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        if self.server_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server_pid, signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                self._wait_rusage = usage
                self.returncode = process.returncode
                return
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        self._wait_rusage = usage
        self.returncode = -9

    def rusage(self) -> tuple[int | None, float | None]:
        """Peak RSS (KiB) and CPU seconds of the server process, from GNU time."""
        if self._rusage_file.exists():
            for line in reversed(self._rusage_file.read_text().splitlines()):
                parts = line.split()
                if len(parts) == 3 and parts[0].isdigit():
                    return int(parts[0]), float(parts[1]) + float(parts[2])
        if self._wait_rusage is not None:
            usage = self._wait_rusage
            return usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        return None, None

    def stderr_tail(self) -> str:
        try:
            return self._stderr_file.read_text(errors="replace")[-800:]
        except OSError:
            return ""


def _daemon_pid(root: int) -> int:
    """The process under ``root`` (time, py-spy) whose command line runs the daemon."""
    pending, found = [root], root
    while pending:
        pid = pending.pop()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        program = [
            arg for arg in cmdline[:4] if arg.endswith(b"/delivermon") or arg == b"monitor.cli"
        ]
        if b"run" in cmdline and program:
            found = pid
        pending += [int(c) for c in children]
    return found


# --- the client -------------------------------------------------------------------


async def drive_workload(
    workload: str,
    server: ServerProcess,
    args: argparse.Namespace,
    batches: list[EventBatch],
    corpus: ArfCorpus,
) -> tuple[PassResult, PassResult | None, EventTotals, EventTotals]:
    """Warm-up, measured pass, duplicate pass; and the totals acknowledged and attempted."""
    warm = WARMUP[workload]
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    expected, attempted = EventTotals(), EventTotals()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if workload == EVENTS:
        path, items = "/api/v1/events", batches
        headers["Content-Type"] = "application/json"
        bodies = [b.body for b in batches]
    else:
        path, items = "/api/v1/feedback/arf", corpus.reports
        headers["Content-Type"] = "message/rfc822"
        bodies = [r.raw for r in corpus.reports]
    url = server.base + path

    def account(
        index: int, status: int | None, payload: Any, result: PassResult, dup: bool
    ) -> None:
        totals = _totals_of(workload, items[index])
        if not dup:
            attempted.add(totals)
        if status != 202 or not isinstance(payload, dict):
            key = f"HTTP {status}" if status else str(payload)[:80]
            result.failures[key] = result.failures.get(key, 0) + 1
            return
        if workload == EVENTS:
            good = payload.get("duplicates" if dup else "accepted") == ingest_inputs.BATCH_SIZE
            acked = payload.get("duplicates" if dup else "accepted", 0)
        else:
            good = payload.get("duplicate") is dup
            acked = 1 if good else 0
        if not good:
            key = f"202 but unexpected {json.dumps(payload)[:80]}"
            result.failures[key] = result.failures.get(key, 0) + 1
        result.acked_requests += 1 if good else 0
        result.acked_items += int(acked) if good else 0
        if good and not dup:
            expected.add(totals)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await _pass(
            session, url, headers, bodies, range(warm), args.concurrency, account, False, server
        )
        measured = await _pass(
            session, url, headers, bodies, range(warm, len(bodies)), args.concurrency, account,
            False, server,
        )  # fmt: skip
        duplicate_pass = None
        if args.duplicates > 0:
            count = max(1, int((len(bodies) - warm) * args.duplicates))
            duplicate_pass = await _pass(
                session, url, headers, bodies, range(warm, warm + count), args.concurrency,
                account, True, server,
            )  # fmt: skip
    return measured, duplicate_pass, expected, attempted


def _totals_of(workload: str, item: Any) -> EventTotals:
    if workload == EVENTS:
        totals: EventTotals = item.totals
        return totals
    # An ARF report: one report row, and its complaint events (one per recipient).
    return EventTotals(events=1, complaints=item.complaints, personal=item.complaints)


async def _pass(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    bodies: list[bytes],
    indices: range,
    concurrency: int,
    account: Any,
    dup: bool,
    server: ServerProcess,
) -> PassResult:
    result = PassResult(requests=len(indices))
    queue = iter(indices)

    async def worker() -> None:
        for index in queue:  # one shared iterator: each index is taken once
            started = time.perf_counter()
            status: int | None = None
            payload: Any
            try:
                async with session.post(url, data=bodies[index], headers=headers) as response:
                    status = response.status
                    payload = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                payload = f"{type(exc).__name__}"
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            account(index, status, payload, result, dup)

    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall_seconds = time.perf_counter() - started
    cpu_after = server.cpu_seconds()
    result.client_cpu_seconds = time.process_time() - client_before
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu_seconds = cpu_after - cpu_before
    return result


# --- read the store back ------------------------------------------------------------


async def verify(
    url: str, workload: str, expected: EventTotals, attempted: EventTotals
) -> dict[str, Any]:
    """Compare the store's rows and counters with what was acknowledged.

    Exact equality when every request was answered; otherwise each stored
    number must lie between what was acknowledged and what was attempted
    (an unanswered request may or may not have been committed).
    """
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from monitor.store.schema import counters, event_keys, events, feedback_reports
    from monitor.store.url import async_url

    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            sums = (
                await conn.execute(
                    select(
                        *(func.coalesce(func.sum(counters.c[c]), 0)
                          for c in ("sent", "delivered", "complaints", "unsubscribes"))
                    )
                )
            ).one()  # fmt: skip
            keys = (await conn.execute(select(func.count()).select_from(event_keys))).scalar_one()
            personal = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
            reports = (
                await conn.execute(select(func.count()).select_from(feedback_reports))
            ).scalar_one()
    finally:
        await engine.dispose()
    stored = {
        "sent": int(sums[0]),
        "delivered": int(sums[1]),
        "complaints": int(sums[2]),
        "unsubscribes": int(sums[3]),
        "personal_event_rows": int(personal),
    }
    if workload == EVENTS:
        stored["event_keys"] = int(keys)
        wanted = {
            "sent": expected.sent,
            "delivered": expected.delivered,
            "complaints": expected.complaints,
            "unsubscribes": expected.unsubscribes,
            "personal_event_rows": expected.personal,
            "event_keys": expected.events,
        }
        ceiling = {
            "sent": attempted.sent,
            "delivered": attempted.delivered,
            "complaints": attempted.complaints,
            "unsubscribes": attempted.unsubscribes,
            "personal_event_rows": attempted.personal,
            "event_keys": attempted.events,
        }
        items, unit = expected.events, "events"
    else:
        stored["reports"] = int(reports)
        stored["complaint_keys"] = int(keys)
        wanted = {
            "reports": expected.events,
            "complaints": expected.complaints,
            "complaint_keys": expected.complaints,
            "sent": 0,
            "delivered": 0,
            "unsubscribes": 0,
        }
        ceiling = {
            "reports": attempted.events,
            "complaints": attempted.complaints,
            "complaint_keys": attempted.complaints,
            "sent": 0,
            "delivered": 0,
            "unsubscribes": 0,
        }
        items, unit = expected.events, "reports"
    mismatches = {
        k: {"stored": stored.get(k), "acknowledged": v}
        for k, v in wanted.items()
        if not (v <= stored.get(k, 0) <= ceiling[k])
    }
    return {
        "ok": not mismatches,
        "acknowledged_items": items,
        "unit": unit,
        "stored": stored,
        "acknowledged": wanted,
        "mismatches": mismatches,
    }


# --- profiling ----------------------------------------------------------------------


def profile_once(
    workload: str,
    args: argparse.Namespace,
    batches: list[EventBatch],
    corpus: ArfCorpus,
    workdir: Path,
    tag: str,
) -> str:
    """One SQLite run with the server sampled by py-spy (or, without it, under cProfile)."""
    args.results_dir.mkdir(parents=True, exist_ok=True)
    use_py_spy = PY_SPY.exists()
    suffix = "pyspy.txt" if use_py_spy else "prof"
    out = args.results_dir / f"ingest-profile-{workload}-{tag}.{suffix}"
    record = run_once("sqlite", workload, 99, args, batches, corpus, {}, workdir, profile=out)
    tool = "py-spy (250 Hz, all threads)" if use_py_spy else "cProfile"
    head = (
        f"Profile of the server process, {workload} into SQLite, sampled by {tool} "
        f"({record.rate or 0:,.0f} {UNITS[workload]} while profiled; raw data in {out}):"
    )
    if not out.exists():
        return head + " no profile written"
    if use_py_spy:
        return head + "\n" + summarise_py_spy(out)
    lines = [head]
    for sort in ("tottime", "cumulative"):
        stream = _Capture()
        stats = pstats.Stats(str(out), stream=stream)  # type: ignore[arg-type]
        stats.strip_dirs().sort_stats(sort).print_stats(25)
        lines.append(f"\n-- top 25 by {sort} --")
        body = stream.text()
        start = body.find("ncalls")
        lines.append(body[start:] if start >= 0 else body)
    return "\n".join(lines)


# Samples that are no work: the loop waiting in epoll (uvloop's C loop shows as this
# Python frame) and aiosqlite's worker threads waiting on their queue.
_IDLE_LEAVES = ("Runner.run (", "_connection_worker_thread (")
_IDLE_LINES = ("asyncio/runners.py:118)", "aiosqlite/core.py:59)")
_STARTUP = ("_find_and_load (", "open_store (", "alembic")


def summarise_py_spy(path: Path, top: int = 20) -> str:
    """Shares of the busy samples per package and function, from py-spy's raw output.

    Start-up (imports, migrations) and idle waits are set aside first, so the
    shares are of the work done while serving requests.
    """
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    total = idle = startup = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        raw_frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not raw_frames:
            continue
        if any(marker in stack for marker in _STARTUP):
            startup += count
            continue
        leaf = raw_frames[-1]
        if leaf.startswith(_IDLE_LEAVES) and leaf.endswith(_IDLE_LINES):
            idle += count
            continue
        frames = [_frame_name(f) for f in raw_frames]
        self_samples[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
        groups[_group_of(stack)] += count
    busy = total - idle - startup
    if busy <= 0:
        return "(no busy samples)"
    lines = [
        f"{total:,} samples over all threads: {startup:,} start-up (imports, migrations), "
        f"{idle:,} idle (event loop in epoll or its C code, aiosqlite threads waiting), "
        f"{busy:,} busy. Shares of the busy samples, by the innermost known package:"
    ]
    lines += [f"  {100 * n / busy:5.1f}%  {g}" for g, n in groups.most_common()]
    lines.append(f"\nTop {top} functions by self samples:")
    lines += [f"  {100 * n / busy:5.1f}%  {f}" for f, n in self_samples.most_common(top)]
    lines.append(f"\nTop {top} functions by inclusive samples:")
    lines += [f"  {100 * n / busy:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _frame_name(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.strip().partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if parts else file
    return f"{name} ({short})"


_GROUPS = (
    ("monitor/ingest", "delivermon ARF parsing, attribution, audit"),
    ("monitor/http", "delivermon HTTP handlers (incl. pydantic validation)"),
    ("monitor/store", "delivermon store code"),
    ("monitor/privacy", "delivermon pseudonyms"),
    ("pydantic", "pydantic"),
    ("sqlalchemy", "SQLAlchemy (compile, execute, result)"),
    ("aiosqlite", "aiosqlite (thread hand-off, sqlite3 calls)"),
    ("asyncpg", "asyncpg"),
    ("aiohttp", "aiohttp"),
    ("json", "json"),
    ("asyncio", "asyncio / event loop"),
    ("threading", "threads"),
)


def _group_of(stack: str) -> str:
    """The innermost recognised package of a stack (its leaf's owner)."""
    for frame in reversed(stack.split(";")):
        for needle, label in _GROUPS:
            if f"/{needle}/" in frame or f"/{needle}." in frame or f"{needle}/" in frame:
                return label
    return "other"


class _Capture:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def text(self) -> str:
        return "".join(self._parts)


# --- summary and table ----------------------------------------------------------------


def summarise(
    records: list[RunRecord], backends: list[str], workloads: list[str]
) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for backend in backends:
        for workload in workloads:
            runs = [r for r in records if r.backend == backend and r.workload == workload]
            good = [r for r in runs if r.rate is not None]
            entry: dict[str, Any] = {
                "backend": backend,
                "workload": workload,
                "runs": len(runs),
                "runs_ok": sum(r.ok for r in runs),
            }
            if good:
                rates = [r.rate for r in good if r.rate is not None]
                entry |= {
                    "rate": _median(rates),
                    "rate_min": min(rates),
                    "rate_max": max(rates),
                    "latency_p50_ms": _median([r.latency_p50_ms for r in good]),
                    "latency_p99_ms": _median([r.latency_p99_ms for r in good]),
                    "server_cpu_busy": _median([r.server_cpu_busy for r in good]),
                    "client_cpu_busy": _median([r.client_cpu_busy for r in good]),
                    "peak_rss_mib": _median(
                        [r.peak_rss_kib / 1024 for r in good if r.peak_rss_kib]
                    ),
                    "duplicate_rate": _median([r.duplicate_rate for r in good]),
                    "acked_total": sum(r.acked for r in good),
                    "items_total": sum(r.items for r in good),
                    "correct_runs": sum(bool(r.correctness and r.correctness["ok"]) for r in runs),
                    "duplicates_recognised_all": all(
                        r.duplicates_recognised is None
                        or r.duplicates_recognised.split("/")[0]
                        == r.duplicates_recognised.split("/")[1]
                        for r in good
                    ),
                }
            summary[f"{backend}/{workload}"] = entry
    return summary


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{format(value, spec)}{suffix}"


def render_table(
    summary: dict[str, dict[str, Any]], args: argparse.Namespace, corpus: ArfCorpus
) -> str:
    lines = [
        f"{args.events:,} events (batches of {ingest_inputs.BATCH_SIZE}) and {args.reports:,} "
        f"ARF reports ({corpus.feedback_types}, mean {corpus.mean_bytes:,.0f} bytes: written by "
        "the benchmark, and the corpus samples with an upstream expected parse) per run; "
        f"{args.concurrency} requests in flight; medians of {args.reps} interleaved repetitions, "
        "each on a fresh store and a fresh `delivermon run` process (its default event loop, "
        "HTTP middleware and scheduled jobs).",
        "",
        "| backend | workload | rate (median) | min-max | target | p50 / p99 latency (ms) "
        "| server CPU busy | peak RSS (MiB) | re-sent: duplicates/s | correct |",
        "|" + "---|" * 10,
    ]
    for entry in summary.values():
        backend, workload = entry["backend"], entry["workload"]
        label = BACKENDS[backend]
        if "rate" not in entry:
            lines.append(f"| {label} | {workload} | failed ({entry['runs']} runs) |" + " |" * 7)
            continue
        target = TARGETS[workload]
        is_target_backend = backend == "sqlite"
        rate = entry["rate"]
        target_cell = (
            f"{target:,.0f}: {'PASS' if rate >= target else 'FAIL'} ({rate / target:.2f}x)"
            if is_target_backend
            else f"({rate / target:.2f}x of {target:,.0f})"
        )
        correct = (
            f"{entry['acked_total']:,}/{entry['items_total']:,} acknowledged, "
            f"{entry['correct_runs']}/{entry['runs']} runs match the store"
        )
        if args.duplicates > 0:
            correct += (
                ", re-sent all duplicates"
                if entry["duplicates_recognised_all"]
                else (", re-sent NOT all recognised")
            )
        cells = [
            label,
            "events" if workload == EVENTS else "ARF reports",
            f"{rate:,.0f} {UNITS[workload]}",
            f"{entry['rate_min']:,.0f}-{entry['rate_max']:,.0f}",
            target_cell,
            f"{_fmt(entry['latency_p50_ms'], '.1f')} / {_fmt(entry['latency_p99_ms'], '.1f')}",
            _fmt(entry["server_cpu_busy"] and 100 * entry["server_cpu_busy"], ".0f", "%"),
            _fmt(entry["peak_rss_mib"], ".1f"),
            _fmt(entry["duplicate_rate"], ",.0f"),
            correct,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_target_check(summary: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "Targets (issue 4, end to end into SQLite on the 2-core machine): "
        ">= 20,000 events/s and >= 600 ARF reports/s, every acknowledged item stored."
    ]
    for workload in (EVENTS, ARF):
        entry = summary.get(f"sqlite/{workload}")
        if not entry or "rate" not in entry:
            continue
        rate, target = entry["rate"], TARGETS[workload]
        correct = entry["correct_runs"] == entry["runs"] and entry["runs_ok"] == entry["runs"]
        lines.append(
            f"- {workload}: {rate:,.0f} {UNITS[workload]} "
            f"{'PASS' if rate >= target else 'FAIL'} (target {target:,.0f}), "
            f"correctness {'PASS' if correct else 'FAIL'} "
            f"({entry['correct_runs']}/{entry['runs']} runs)"
        )
    return lines


def _write_results(
    args: argparse.Namespace,
    command: str,
    records: list[RunRecord],
    summary: dict[str, dict[str, Any]],
    table: str,
    skipped: list[str],
    corpus: ArfCorpus,
    versions: dict[str, str],
) -> Path:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.results_dir / f"ingest-{stamp}.json"
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    document = {
        "command": command,
        "finished_at": stamp,
        "config": config,
        "batch_size": ingest_inputs.BATCH_SIZE,
        "warmup_requests": WARMUP,
        "arf_samples": corpus.samples,
        "arf_mean_bytes": corpus.mean_bytes,
        "arf_feedback_types": corpus.feedback_types,
        "environment": _environment(versions),
        "skipped": skipped,
        "summary": summary,
        "table_markdown": table,
        "runs": [asdict(r) for r in records],
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def _environment(versions: dict[str, str]) -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in ("delivermon", "aiohttp", "sqlalchemy", "aiosqlite", "asyncpg", "uvloop",
                 "pydantic", "alembic"):  # fmt: skip
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    import sqlite3

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "sqlite": sqlite3.sqlite_version,
        "event_loop": os.environ.get("DELIVERMON_EVENT_LOOP", "auto")
        + (" (uvloop)" if packages["uvloop"] else " (asyncio)"),
        **versions,
        "packages": packages,
    }


if __name__ == "__main__":
    sys.exit(main())
