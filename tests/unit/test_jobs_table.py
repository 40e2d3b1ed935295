"""The job table's install: imports from rate-limited services keep their schedule on reload."""

from __future__ import annotations

from typing import Any

from monitor.checking.sharding import Shard
from monitor.config import parse_config
from monitor.daemon.jobs import JOBS, install_jobs


class Recorder:
    """A JobScheduler that records what install_jobs asks of it."""

    def __init__(self) -> None:
        self.jobs: dict[str, float] = {}
        self.added: list[tuple[str, bool]] = []

    def add(
        self, name: str, func: Any, *, interval: float, jitter: float = 0.0, run_now: bool = True
    ) -> None:
        self.jobs[name] = interval
        self.added.append((name, run_now))

    def interval_of(self, name: str) -> float | None:
        return self.jobs.get(name)

    def remove(self, name: str) -> None:
        self.jobs.pop(name, None)


class NoServices:
    def __getattr__(self, name: str) -> Any:
        return self


CONFIG = """
[telemetry.gmail]
credentials = "env:X"
interval = "{gmail}"
[telemetry.snds]
key = "k"
"""


def install(recorder: Recorder, gmail: str) -> None:
    config = parse_config(CONFIG.format(gmail=gmail))
    install_jobs(recorder, NoServices(), config, Shard(0, 1))  # type: ignore[arg-type]


def test_telemetry_jobs_run_at_start_and_keep_their_schedule_on_reload() -> None:
    recorder = Recorder()
    install(recorder, "6h")
    assert ("telemetry_gmail", True) in recorder.added
    assert ("telemetry_snds", True) in recorder.added
    recorder.added.clear()
    install(recorder, "6h")  # a reload that keeps the intervals
    names = [n for n, _ in recorder.added]
    assert "telemetry_gmail" not in names
    assert "telemetry_snds" not in names
    assert ("sweep", True) in recorder.added  # the checks still re-run at once
    recorder.added.clear()
    install(recorder, "3h")  # a new interval: rescheduled, not run at once
    assert ("telemetry_gmail", False) in recorder.added
    assert recorder.jobs["telemetry_gmail"] == 3 * 3600


def test_telemetry_jobs_run_on_the_first_replica_only() -> None:
    recorder = Recorder()
    config = parse_config(CONFIG.format(gmail="6h"))
    install_jobs(recorder, NoServices(), config, Shard(1, 2))  # type: ignore[arg-type]
    assert "telemetry_gmail" not in recorder.jobs
    assert {s.name for s in JOBS} >= {"telemetry_gmail", "telemetry_snds"}
