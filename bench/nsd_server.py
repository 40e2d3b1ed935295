"""A throwaway NSD on 127.0.0.1 serving the benchmark zones, run in the foreground.

Settings that matter for a loopback benchmark: response-rate limiting off
(`rrl-ratelimit: 0`; Debian's NSD limits by default), one server process
(`server-count: 1`, so NSD uses one core and the client the other), no chroot,
no privilege drop, no database file.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

NSD_BINARY = "/usr/sbin/nsd"
NSD_CONTROL_BINARY = "/usr/sbin/nsd-control"
# Socket buffers large enough that a burst from a client with hundreds of queries
# in flight is not dropped by the kernel (a drop costs the client a timeout).
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024


class NsdError(Exception):
    """NSD could not be started or does not answer as configured."""


@dataclass(frozen=True, slots=True)
class NsdServer:
    """A running NSD: where it listens and how to read its query counter."""

    host: str
    port: int
    config_path: Path
    process: subprocess.Popen[bytes]

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    def query_count(self) -> int | None:
        """Queries NSD has answered since it started, via nsd-control; None if unavailable."""
        if shutil.which(NSD_CONTROL_BINARY) is None:
            return None
        try:
            done = subprocess.run(
                [NSD_CONTROL_BINARY, "-c", str(self.config_path), "stats_noreset"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        match = re.search(r"^num\.queries=(\d+)$", done.stdout, re.MULTILINE)
        return int(match.group(1)) if match else None


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise NsdError("no free port found")


def nsd_version() -> str:
    done = subprocess.run(
        [NSD_BINARY, "-v"], capture_output=True, text=True, timeout=10, check=False
    )
    first = (done.stdout or done.stderr).splitlines()
    return first[0] if first else "unknown"


def write_config(workdir: Path, port: int, zone_files: Mapping[str, Path]) -> Path:
    """Write nsd.conf for a foreground, unprivileged, single-process server."""
    lines = [
        "server:",
        f"    ip-address: 127.0.0.1@{port}",
        "    server-count: 1",
        '    username: ""',
        '    chroot: ""',
        '    database: ""',
        f'    zonesdir: "{workdir}"',
        f'    xfrdir: "{workdir}"',
        f'    zonelistfile: "{workdir / "zone.list"}"',
        f'    xfrdfile: "{workdir / "xfrd.state"}"',
        f'    pidfile: "{workdir / "nsd.pid"}"',
        f'    logfile: "{workdir / "nsd.log"}"',
        "    verbosity: 1",
        "    rrl-ratelimit: 0",
        "    rrl-whitelist-ratelimit: 0",
        f"    receive-buffer-size: {SOCKET_BUFFER_BYTES}",
        f"    send-buffer-size: {SOCKET_BUFFER_BYTES}",
        "remote-control:",
        "    control-enable: yes",
        f'    control-interface: "{workdir / "nsd.sock"}"',
    ]
    for zone, path in zone_files.items():
        lines += ["zone:", f"    name: {zone}", f'    zonefile: "{path}"']
    config = workdir / "nsd.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


@contextlib.contextmanager
def run_nsd(
    workdir: Path, zone_files: Mapping[str, Path], *, startup_timeout: float = 30.0
) -> Iterator[NsdServer]:
    """Start NSD (`nsd -d`) on a free loopback port, wait until every zone answers, stop it after.

    Raises:
        NsdError: NSD exited, or a zone did not answer its RFC 5782 test points in time.
    """
    port = find_free_port()
    config = write_config(workdir, port, zone_files)
    checked = subprocess.run(
        ["/usr/sbin/nsd-checkconf", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if checked.returncode != 0:
        raise NsdError(f"nsd-checkconf rejected {config}: {checked.stderr.strip()}")
    log = (workdir / "nsd.stderr").open("wb")
    process = subprocess.Popen(
        [NSD_BINARY, "-d", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    server = NsdServer(host="127.0.0.1", port=port, config_path=config, process=process)
    try:
        _wait_until_serving(server, list(zone_files), workdir, startup_timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_until_serving(server: NsdServer, zones: list[str], workdir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(zones)
    while pending:
        if server.process.poll() is not None:
            raise NsdError(f"nsd exited with {server.process.returncode}: {_log_tail(workdir)}")
        if time.monotonic() > deadline:
            raise NsdError(f"zones not served after {timeout}s: {pending[:3]} {_log_tail(workdir)}")
        zone = pending[0]
        if _answers_test_points(server, zone):
            pending.pop(0)
        else:
            time.sleep(0.1)


def _answers_test_points(server: NsdServer, zone: str) -> bool:
    try:
        listed = dns.query.udp(
            dns.message.make_query(f"2.0.0.127.{zone}", "A"),
            server.host,
            port=server.port,
            timeout=0.5,
        )
        clean = dns.query.udp(
            dns.message.make_query(f"1.0.0.127.{zone}", "A"),
            server.host,
            port=server.port,
            timeout=0.5,
        )
    except (OSError, dns.exception.Timeout):
        return False
    codes = {
        rdata.to_text()
        for rrset in listed.answer
        if rrset.rdtype == dns.rdatatype.A
        for rdata in rrset
    }
    return codes == {"127.0.0.2"} and clean.rcode() == dns.rcode.NXDOMAIN


def _log_tail(workdir: Path) -> str:
    texts = []
    for name in ("nsd.stderr", "nsd.log"):
        path = workdir / name
        if path.exists():
            texts.append(path.read_text(errors="replace")[-800:])
    return " | ".join(t.strip() for t in texts if t.strip())
