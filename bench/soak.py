"""Soak: the daemon sweeping 10,000 targets every minute against NSD on loopback for 30
minutes, with ingestion running and notifications flowing; its RSS, open file
descriptors, sockets and asyncio tasks sampled. Run on demand (``make soak``), not in CI.

The daemon is ``delivermon run``'s ``run_daemon`` in its own process (bench/soak_daemon.py,
which adds one sampler task writing the figures to a file). This process serves the
zone (NSD), flips a few listings every two minutes (so alerts fire, resolve and notify a
local webhook receiver), and posts events, ARF reports and signed Mailgun webhooks at a
steady rate. Passes when, after the warm-up, RSS grows less than 10 % and the open file
descriptors, sockets and tasks return to their warm-up level; and when every acknowledged
item is in the store. Figures go to bench/results/soak-<time>.json and to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from dnsserver import NsdServer, pick_free_port  # noqa: E402

from monitor.ingest.parsers import parser_by_name  # noqa: E402

ZONE = "bl.soak.test"
TARGETS = 10_000
LISTED = 50
FLIPPED = 5
TOKEN = "soak-ingest-token"
MAILGUN_KEY = "soak-mailgun-signing-key"
PSEUDONYM_KEY = "0123456789abcdef0123456789abcdef"
RESULTS = BENCH / "results"


def target_ip(i: int) -> str:
    return f"198.18.{i // 256}.{i % 256}"  # RFC 2544 benchmarking range


def zone_records(listed: set[int]) -> list[str]:
    records = ["2.0.0.127 IN A 127.0.0.2", '2.0.0.127 IN TXT "test point"']
    for i in sorted(listed):
        a, b, c, d = target_ip(i).split(".")
        records.append(f"{d}.{c}.{b}.{a} IN A 127.0.0.2")
    return records


def config_text(work: Path, nameserver: str, receiver: str, port: int) -> str:
    ips = json.dumps([target_ip(i) for i in range(TARGETS)])
    return f"""
[dns]
nameservers = ["{nameserver}"]
timeout = 2.0
attempts = 2
[auth_dns]
nameservers = ["{nameserver}"]
timeout = 1.0
attempts = 1
[dnsbl]
zones = ["{ZONE}"]
interval = "1m"
[[dnsbl.custom_zones]]
id = "{ZONE}"
codes = [{{ value = "127.0.0.2", meaning = "soak listing" }}]
[[domains]]
name = "soak.example"
sending_ips = {ips}
[http]
listen = "127.0.0.1:{port}"
ingest_token = "{TOKEN}"
[store]
url = "sqlite:///{work / "soak.db"}"
[privacy]
pseudonym_key = "{PSEUDONYM_KEY}"
[webhooks.mailgun]
signing_key = "{MAILGUN_KEY}"
[schedule]
selftest_interval = "5m"
auth_interval = "1d"
drift_interval = "1d"
notify_interval = "10s"
[alerts]
confirm_delay = 1.0
resolve_after = 1
[[notify]]
kind = "webhook"
url = "{receiver}"
min_severity = "info"
"""


class Receiver:
    """Counts notification POSTs."""

    def __init__(self) -> None:
        self.count = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def mailgun_body(n: int) -> bytes:
    stamp = str(int(time.time()))
    token = secrets.token_hex(25)
    digest = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": digest},
            "event-data": {
                "id": f"soak-mg-{n}",
                "timestamp": time.time(),
                "event": "delivered",
                "recipient": f"r{n}@example.org",
                "user-variables": {"campaign": "soak"},
            },
        }
    ).encode()


async def load(base: str, stop: asyncio.Event, totals: dict[str, int]) -> None:
    """Per second: one batch of 100 events, one ARF report, one Mailgun webhook."""
    arf = parser_by_name("arf").examples[0]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    n = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            n += 1
            batch = {
                "events": [
                    {"type": "delivered", "campaign": "soak", "count": 1, "id": f"e{n}-{i}"}
                    for i in range(100)
                ]
            }
            report = arf.replace(b"Message-ID: <1@example.com>", f"Message-ID: <{n}@soak>".encode())
            requests = [
                ("events", "/api/v1/events", json.dumps(batch).encode(), "application/json", auth),
                ("arf", "/api/v1/feedback/arf", report, "message/rfc822", auth),
                ("mailgun", "/api/v1/webhooks/mailgun", mailgun_body(n), "application/json", {}),
            ]
            for name, path, body, content_type, headers in requests:
                try:
                    async with session.post(
                        base + path, data=body, headers={"Content-Type": content_type, **headers}
                    ) as response:
                        await response.read()
                        key = f"{name}_{'ok' if response.status == 202 else response.status}"
                        totals[key] = totals.get(key, 0) + 1
                except aiohttp.ClientError:
                    totals[f"{name}_error"] = totals.get(f"{name}_error", 0) + 1
            await asyncio.sleep(1.0)


async def flip(nsd: NsdServer, stop: asyncio.Event, listed: set[int]) -> int:
    """Every two minutes, delist the first FLIPPED listed targets or list them again."""
    flips = 0
    base = set(listed)
    extra = set(range(TARGETS - FLIPPED, TARGETS))
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 120)
        except TimeoutError:
            flips += 1
            current = base | extra if flips % 2 else base
            nsd.add_zone(ZONE, zone_records(current), soa_minimum=0, ttl=0)
            await asyncio.to_thread(nsd.reload)
    return flips


async def wait_healthy(base: str, seconds: float = 60) -> None:
    """Until the daemon at ``base`` answers /healthz (it is starting)."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(base + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no daemon answering at {base}")


def read_samples(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarise(samples: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    after = [s for s in samples if s["t"] >= warmup]
    if len(after) < 4:
        return {"error": "too few samples after the warm-up"}
    quarter = max(2, len(after) // 4)
    first, last = after[:quarter], after[-quarter:]
    out: dict[str, Any] = {"samples": len(samples)}
    for key in ("rss_mib", "fds", "sockets", "tasks"):
        a = statistics.median(s[key] for s in first)
        b = statistics.median(s[key] for s in last)
        out[key] = {
            "warm": round(a, 1),
            "end": round(b, 1),
            "max": max(s[key] for s in after),
            "growth_pct": round(100 * (b - a) / a, 1) if a else 0.0,
        }
    return out


def stored(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        reports = conn.execute("SELECT count(*) FROM feedback_reports").fetchone()[0]
        delivered = conn.execute("SELECT coalesce(sum(delivered), 0) FROM counters").fetchone()[0]
    return {"reports": int(reports), "delivered": int(delivered)}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes not judged")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="delivermon-soak-"))
    listed = set(range(LISTED))
    receiver = Receiver()
    nsd = NsdServer(work / "nsd")
    nsd.add_zone(ZONE, zone_records(listed), soa_minimum=0, ttl=0)
    port = pick_free_port()
    config = work / "soak.toml"
    samples_path = work / "samples.jsonl"
    load_before = os.getloadavg()
    with nsd:
        config.write_text(config_text(work, nsd.address, receiver.url, port))
        log = (work / "daemon.log").open("wb")
        daemon = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
            [sys.executable, str(BENCH / "soak_daemon.py"), str(config), str(samples_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base)
        stop = asyncio.Event()
        totals: dict[str, int] = {}
        started = time.monotonic()
        loader = asyncio.create_task(load(base, stop, totals))
        flipper = asyncio.create_task(flip(nsd, stop, listed))
        while time.monotonic() - started < args.minutes * 60:
            await asyncio.sleep(30)
            latest = read_samples(samples_path)[-1:]
            print(f"{(time.monotonic() - started) / 60:5.1f} min {latest} {totals}", flush=True)
        stop.set()
        flips = await flipper
        await loader
        async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as r:
            metrics = await r.text()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
    sweeps = [
        line for line in metrics.splitlines()
        if line.startswith('delivermon_job_runs_total{') and 'task="sweep"' in line
    ]  # fmt: skip
    samples = read_samples(samples_path)
    summary = summarise(samples, args.warmup * 60)
    in_store = stored(work / "soak.db")
    acknowledged = {
        "reports": totals.get("arf_ok", 0),
        "delivered": 100 * totals.get("events_ok", 0) + totals.get("mailgun_ok", 0),
    }
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "minutes": args.minutes,
        "warmup_minutes": args.warmup,
        "targets": TARGETS,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "requests": totals,
        "acknowledged": acknowledged,
        "in_store": in_store,
        "notifications_received": receiver.count,
        "listing_flips": flips,
        "sweep_runs": sweeps,
        "daemon_exit": code,
        "summary": summary,
    }
    ok = (
        code == 0
        and in_store == acknowledged
        and receiver.count > 0
        and "error" not in summary
        and summary["rss_mib"]["growth_pct"] < 10
        and summary["fds"]["end"] <= summary["fds"]["warm"] + 2
        and summary["sockets"]["end"] <= summary["sockets"]["warm"] + 2
        and summary["tasks"]["end"] <= summary["tasks"]["warm"] + 2
    )
    result["pass"] = ok
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"soak-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {out}; daemon log {work / 'daemon.log'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
