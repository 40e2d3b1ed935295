"""Sustained ingestion on loopback: events, ARF reports and signed Mailgun webhooks posted
to ``delivermon run`` (SQLite) at fixed rates near the benchmarked ones (bench/INGEST.md),
one workload at a time, open loop (requests leave on schedule, whatever the answers).
Reports p50/p99 latency and checks zero loss: every 202 is in the store, once.
``make load`` (``--seconds``, ``--events-rate``, ``--arf-rate``, ``--webhook-rate``). Not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from dnsserver import pick_free_port  # noqa: E402
from soak import MAILGUN_KEY, PSEUDONYM_KEY, TOKEN, mailgun_body, wait_healthy  # noqa: E402

from monitor.ingest.parsers import parser_by_name  # noqa: E402

BATCH = 500
RESULTS = BENCH / "results"


def config(work: Path, port: int) -> str:
    return f"""
[dns]
nameservers = ["127.0.0.1:9"]
[dnsbl]
zones = []
[http]
listen = "127.0.0.1:{port}"
ingest_token = "{TOKEN}"
[store]
url = "sqlite:///{work / "load.db"}"
[privacy]
pseudonym_key = "{PSEUDONYM_KEY}"
[webhooks.mailgun]
signing_key = "{MAILGUN_KEY}"
"""


def request_for(kind: str, n: int) -> tuple[str, bytes, dict[str, str]]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if kind == "events":
        batch = {
            "events": [
                {"type": "delivered", "campaign": "load", "id": f"{n}-{i}"} for i in range(BATCH)
            ]
        }
        return "/api/v1/events", json.dumps(batch).encode(), {
            **auth, "Content-Type": "application/json"
        }  # fmt: skip
    if kind == "arf":
        raw = (
            parser_by_name("arf")
            .examples[0]
            .replace(b"<1@example.com>", f"<{uuid.uuid4()}@load>".encode())
        )
        return "/api/v1/feedback/arf", raw, {**auth, "Content-Type": "message/rfc822"}
    return "/api/v1/webhooks/mailgun", mailgun_body(n), {"Content-Type": "application/json"}


async def run(base: str, kind: str, rate: float, seconds: float) -> dict[str, object]:
    """``rate`` requests per second for ``seconds``; latencies of the 202s."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies = [request_for(kind, n) for n in range(int(rate * seconds))]
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(path: str, body: bytes, headers: dict[str, str]) -> None:
            started = time.perf_counter()
            try:
                async with session.post(base + path, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        tasks = []
        for index, (path, body, headers) in enumerate(bodies):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(path, body, headers)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    latencies.sort()
    unit = BATCH if kind == "events" else 1
    return {
        "workload": kind,
        "offered_per_s": rate * unit,
        "achieved_per_s": round(statuses.get(202, 0) * unit / wall, 1),
        "requests": len(bodies),
        "statuses": statuses,
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)
        if latencies
        else None,
        "acknowledged_items": statuses.get(202, 0) * unit,
    }


def stored(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            "delivered": int(
                conn.execute("SELECT coalesce(sum(delivered),0) FROM counters").fetchone()[0]
            ),
            "reports": int(conn.execute("SELECT count(*) FROM feedback_reports").fetchone()[0]),
        }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--events-rate", type=float, default=8000, help="events/s (batches of 500)")
    parser.add_argument("--arf-rate", type=float, default=150, help="reports/s")
    parser.add_argument("--webhook-rate", type=float, default=150, help="Mailgun webhooks/s")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="delivermon-load-"))
    port = pick_free_port()
    (work / "load.toml").write_text(config(work, port))
    load_before = os.getloadavg()
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
        [
            str(Path(sys.executable).parent / "delivermon"),
            "run",
            "--config",
            str(work / "load.toml"),
        ],
        stdout=(work / "daemon.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    await wait_healthy(base)
    results = [
        await run(base, "events", args.events_rate / BATCH, args.seconds),
        await run(base, "arf", args.arf_rate, args.seconds),
        await run(base, "webhooks", args.webhook_rate, args.seconds),
    ]
    server.send_signal(signal.SIGTERM)
    code = server.wait(60)
    in_store = stored(work / "load.db")
    acknowledged = {
        "delivered": results[0]["acknowledged_items"] + results[2]["acknowledged_items"],
        "reports": results[1]["acknowledged_items"],
    }
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds_per_workload": args.seconds,
        "load_average_before": load_before,
        "results": results,
        "acknowledged": acknowledged,
        "in_store": in_store,
        "zero_loss": in_store == acknowledged,
        "daemon_exit": code,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"load-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print("| workload | offered /s | achieved /s | p50 ms | p99 ms | statuses |")
    for r in results:
        print(
            f"| {r['workload']} | {r['offered_per_s']} | {r['achieved_per_s']} | "
            f"{r['p50_ms']} | {r['p99_ms']} | {r['statuses']} |"
        )
    return 0 if report["zero_loss"] and code == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
