"""One measured run of one tool as a child process: wall time, peak RSS, CPU, verdicts.

Each tool runs in its own process group so a timeout ends the whole tree. Peak RSS
comes from GNU time (`/usr/bin/time -f %M`) when installed, otherwise from
`os.wait4` on the child, which reports that child's own rusage.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synthetic_zones import BenchZones

GNU_TIME = "/usr/bin/time"
BENCH_DIR = Path(__file__).resolve().parent

Verdict = tuple[str, tuple[str, ...]]  # (listed | not_listed | unknown, codes)
Verdicts = dict[tuple[str, str], Verdict]


@dataclass(frozen=True, slots=True)
class ProcessMeasure:
    """What the kernel says about one finished child process."""

    returncode: int
    wall_seconds: float
    peak_rss_kib: int
    cpu_seconds: float
    timed_out: bool
    stderr_tail: str


@dataclass(frozen=True, slots=True)
class Correctness:
    """A tool's verdicts compared with the generated truth."""

    checks: int
    mismatches: int
    wrong_verdict: int
    wrong_codes: int
    unknown: int
    missing: int
    examples: tuple[str, ...] = field(default=())

    @property
    def percent_correct(self) -> float:
        return 100.0 * (self.checks - self.mismatches) / self.checks if self.checks else 0.0


def measure_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    stdout_path: Path,
    rusage_path: Path,
    timeout: float,
) -> ProcessMeasure:
    """Run `argv` to completion (or `timeout`), with its stdout in `stdout_path`."""
    use_gnu_time = shutil.which(GNU_TIME) is not None
    command = list(argv)
    if use_gnu_time:
        command = [GNU_TIME, "-f", "%M %U %S", "-o", str(rusage_path), *command]
    full_env = dict(os.environ if env is None else {**os.environ, **env})
    stderr_path = stdout_path.with_suffix(".stderr")
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=out, stderr=err, env=full_env, start_new_session=True
        )
        deadline = started + timeout
        timed_out = False
        while True:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, rusage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    # Without GNU time: wait4's ru_maxrss, which on Linux also counts the peak of the
    # address space the child was forked from (this process's), so it can only overstate.
    peak_kib, cpu = rusage.ru_maxrss, rusage.ru_utime + rusage.ru_stime
    if use_gnu_time and not timed_out:
        parsed = _parse_gnu_time(rusage_path)
        if parsed is not None:
            peak_kib, cpu = parsed
    stderr_tail = stderr_path.read_text(errors="replace")[-1500:]
    return ProcessMeasure(
        returncode=process.returncode,
        wall_seconds=wall,
        peak_rss_kib=peak_kib,
        cpu_seconds=cpu,
        timed_out=timed_out,
        stderr_tail=stderr_tail,
    )


def _parse_gnu_time(path: Path) -> tuple[int, float] | None:
    # GNU time prefixes "Command exited with non-zero status N" when the child fails.
    if not path.exists():
        return None
    for line in reversed(path.read_text().splitlines()):
        fields = line.split()
        if len(fields) == 3 and fields[0].isdigit():
            return int(fields[0]), float(fields[1]) + float(fields[2])
    return None


def delivermon_argv(
    targets_file: Path,
    nameserver: str,
    zones: Sequence[str],
    command: Sequence[str] | None = None,
) -> list[str]:
    """The `delivermon check` command line the benchmark measures."""
    base = list(command) if command else _default_delivermon_command()
    argv = [*base, "check", "--targets-file", str(targets_file), "--nameserver", nameserver]
    for zone in zones:
        argv += ["--zone", zone]
    # DNSBL only, like pydnsbl: PTR checks of the IP targets are not what is compared.
    return [*argv, "--checks", "dnsbl", "--json"]


def _default_delivermon_command() -> list[str]:
    script = Path(sys.executable).parent / "delivermon"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor.cli"]


def delivermon_available(
    command: Sequence[str] | None = None, timeout: float = 60.0
) -> tuple[bool, str]:
    """Whether `delivermon check --help` runs; with the reason when it does not."""
    argv = [*(command or _default_delivermon_command()), "check"]
    try:
        done = subprocess.run(
            [*argv, "--help"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if done.returncode != 0:
        return False, (done.stderr or done.stdout).strip()[-300:]
    return True, ""


def pydnsbl_argv(
    targets_file: Path,
    nameserver: str,
    zones: Sequence[str],
    out: Path,
    *,
    loop: str = "asyncio",
    concurrency: int = 200,
) -> list[str]:
    """The pydnsbl driver's command line (see pydnsbl_driver.py)."""
    argv = [sys.executable, str(BENCH_DIR / "pydnsbl_driver.py")]
    argv += ["--targets-file", str(targets_file), "--nameserver", nameserver, "--out", str(out)]
    argv += ["--loop", loop, "--concurrency", str(concurrency)]
    for zone in zones:
        argv += ["--zone", zone]
    return argv


def dnsperf_argv(queries_file: Path, host: str, port: int, seconds: float) -> list[str]:
    """dnsperf: one thread, 8 sockets, 500 queries in flight, for `seconds`."""
    return [
        "dnsperf", "-s", host, "-p", str(port), "-d", str(queries_file),
        "-T", "1", "-c", "8", "-q", "500", "-l", str(seconds),
    ]  # fmt: skip


def parse_dnsperf(stdout: str) -> dict[str, float]:
    """Queries per second, sent, completed and lost from dnsperf's summary."""
    fields = {
        "queries_per_second": r"Queries per second:\s+([\d.]+)",
        "queries_sent": r"Queries sent:\s+(\d+)",
        "queries_completed": r"Queries completed:\s+(\d+)",
        "queries_lost": r"Queries lost:\s+(\d+)",
    }
    parsed = {}
    for name, pattern in fields.items():
        match = re.search(pattern, stdout)
        if match:
            parsed[name] = float(match.group(1))
    return parsed


def parse_pydnsbl_output(path: Path) -> tuple[Verdicts, float | None]:
    """Verdicts from the driver's JSON, and its own in-loop sweep time."""
    data = json.loads(path.read_text())
    verdicts: Verdicts = {
        (target, zone): (verdict, tuple(sorted(codes)))
        for target, zone, verdict, codes in data["verdicts"]
    }
    return verdicts, data.get("sweep_seconds")


def parse_delivermon_output(path: Path) -> Verdicts:
    """Verdicts from `delivermon check --json` (version 1 document)."""
    data = json.loads(path.read_text())
    verdicts: Verdicts = {}
    for target in data["targets"]:
        for result in target.get("dnsbl") or []:
            codes = tuple(sorted(result.get("codes") or ()))
            verdicts[(target["target"], result["zone"])] = (result["verdict"], codes)
    return verdicts


def compare_with_truth(
    zones: BenchZones, verdicts: Verdicts, max_examples: int = 8, *, targets: int | None = None
) -> Correctness:
    """Count every (target, zone) whose verdict or codes differ from the generated truth.

    ``targets``: only the first so many targets were swept (a calibration run).
    """
    checks = wrong_verdict = wrong_codes = unknown = missing = 0
    examples: list[str] = []
    swept = set(zones.targets[:targets])
    for target, zone in zones.checks():
        if target not in swept:
            continue
        checks += 1
        expected = zones.expected(target, zone)
        got = verdicts.get((target, zone))
        want = "not_listed" if expected is None else "listed"
        if got is None:
            missing += 1
            problem = f"{target} {zone}: no verdict (want {want})"
        elif got[0] != want:
            wrong_verdict += 1
            unknown += got[0] == "unknown"
            problem = (
                f"{target} {zone}: {got[0]} {list(got[1])} (want {want} {list(expected or ())})"
            )
        elif expected is not None and got[1] != tuple(sorted(expected)):
            wrong_codes += 1
            problem = f"{target} {zone}: codes {list(got[1])} (want {sorted(expected)})"
        else:
            continue
        if len(examples) < max_examples:
            examples.append(problem)
    return Correctness(
        checks=checks,
        mismatches=wrong_verdict + wrong_codes + missing,
        wrong_verdict=wrong_verdict,
        wrong_codes=wrong_codes,
        unknown=unknown,
        missing=missing,
        examples=tuple(examples),
    )
