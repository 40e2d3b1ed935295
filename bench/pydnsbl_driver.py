"""Run pydnsbl over a targets file against given zones and nameserver; write its verdicts.

Run as its own process by dnsbl_sweep.py (pydnsbl captures an event loop when its
checker is built, and the benchmark measures each tool's process on its own), on the
event loop it is given (asyncio or uvloop: pydnsbl takes any loop) and with the
``concurrency`` it is given (pydnsbl's own setting: its semaphore over queries in flight,
200 by default).
Writes `{"sweep_seconds": s, "verdicts": [[target, zone, verdict, codes], ...]}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import warnings
from pathlib import Path

import aiodns
from pydnsbl import DNSBLIpChecker
from pydnsbl.providers import Provider

# pydnsbl's defaults, as its users run it; the concurrency is the benchmark's to choose.
TIMEOUT_SECONDS = 5
TRIES = 2
DEFAULT_CONCURRENCY = 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets-file", type=Path, required=True)
    parser.add_argument("--nameserver", required=True, help="host:port")
    parser.add_argument("--zone", action="append", required=True, dest="zones")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args(argv)
    host, _, port_text = args.nameserver.rpartition(":")
    port = int(port_text)
    targets = [line.strip() for line in args.targets_file.read_text().splitlines() if line.strip()]

    warnings.simplefilter("ignore", DeprecationWarning)
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    checker = DNSBLIpChecker(
        providers=[Provider(zone) for zone in args.zones],
        timeout=TIMEOUT_SECONDS,
        tries=TRIES,
        concurrency=args.concurrency,
        loop=loop,
    )
    # pydnsbl builds its resolver from /etc/resolv.conf and takes no nameserver
    # option; pycares' `servers` setter takes no port, so the channel is rebuilt
    # with udp_port/tcp_port (aiodns passes extra keywords to pycares.Channel).
    checker._resolver = aiodns.DNSResolver(
        nameservers=[host],
        loop=loop,
        timeout=TIMEOUT_SECONDS,
        tries=TRIES,
        udp_port=port,
        tcp_port=port,
    )

    started = time.perf_counter()
    results = checker.bulk_check(targets)
    sweep_seconds = time.perf_counter() - started

    verdicts = []
    for result in results:
        for response in result._results:
            if response.error is not None:
                verdicts.append([result.addr, response.provider.host, "unknown", []])
            elif response.response:
                codes = sorted(record.host for record in response.response)
                verdicts.append([result.addr, response.provider.host, "listed", codes])
            else:
                verdicts.append([result.addr, response.provider.host, "not_listed", []])
    args.out.write_text(json.dumps({"sweep_seconds": sweep_seconds, "verdicts": verdicts}))
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
