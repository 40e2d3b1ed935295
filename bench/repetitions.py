"""What every benchmark here does the same way: interleaved repetitions and the command line.

Each repetition runs every tool (or backend and workload) once, in an order rotated by
one each time, so that no tool always runs first or last and a slow drift in the
machine is spread over all of them. The command line goes into the results, as the
benchmark was started, relative to the current directory.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

T = TypeVar("T")


def rotated(items: Sequence[T], reps: int) -> Iterator[tuple[int, T]]:
    """(repetition, item) for `reps` repetitions of `items`, rotated by one each time."""
    for rep in range(reps):
        shift = rep % len(items)
        for item in [*items[shift:], *items[:shift]]:
            yield rep, item


def command_line(script: str) -> str:
    """``python bench/SCRIPT.py ARGS`` as this process was started (`script`: its __file__)."""
    relative = os.path.relpath(Path(script).resolve(), Path.cwd())
    return shlex.join([os.path.relpath(sys.executable), relative, *sys.argv[1:]])


class Measured(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def note(self) -> str: ...
    @property
    def peak_rss_kib(self) -> int: ...
    @property
    def wall_seconds(self) -> float: ...


def progress(rep: int, reps: int, tool: str, rate: str, record: Measured) -> None:
    """One line on stderr per measured run: repetition, tool, its rate, RSS, wall time."""
    print(
        f"# rep {rep + 1}/{reps} {tool:22} {rate} "
        f"rss {record.peak_rss_kib / 1024:6.1f} MiB wall {record.wall_seconds:6.2f}s "
        f"{'' if record.ok else 'FAILED ' + record.note}",
        file=sys.stderr,
    )


def own_peak_rss_kib() -> int:
    """This process's peak resident set (KiB) since it was started: ``VmHWM`` of its
    address space.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that over fork and exec, so
    a worker started by a benchmark that holds 70 MiB reports at least 70 MiB however
    little it uses itself. The address space ``exec`` makes is new, and so is its
    high-water mark.

    Raises:
        RuntimeError: no ``/proc/self/status`` (not Linux).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    raise RuntimeError("peak RSS is read from /proc/self/status (Linux only)")
