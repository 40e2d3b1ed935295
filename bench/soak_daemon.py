"""The daemon for bench/soak.py: ``delivermon run``'s ``run_daemon``, plus one task that
samples this process every 10 s (RSS, open file descriptors, sockets, asyncio tasks) into
a JSON-lines file. ``python bench/soak_daemon.py CONFIG SAMPLES``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import load_config
from monitor.daemon.app import DaemonOptions, run_daemon


def sample(started: float) -> dict[str, float]:
    rss_kib = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    fds = os.listdir("/proc/self/fd")
    sockets = 0
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile
            sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mib": round(rss_kib / 1024, 1),
        "fds": len(fds),
        "sockets": sockets,
        "tasks": len(asyncio.all_tasks()),
    }


async def main(config_path: Path, samples: Path) -> int:
    started = time.monotonic()

    async def sampler() -> None:
        with samples.open("a") as out:
            while True:
                out.write(json.dumps(sample(started)) + "\n")
                out.flush()
                await asyncio.sleep(10)

    task = asyncio.create_task(sampler())
    try:
        return await run_daemon(load_config(config_path), DaemonOptions(config_path=config_path))
    finally:
        task.cancel()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    sys.exit(asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]))))
