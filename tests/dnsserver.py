"""A real NSD authoritative server on 127.0.0.1 for integration tests and benchmarks:
`NsdServer` writes nsd.conf and zone files into a directory it owns, runs ``nsd -d`` on
a free loopback port and reloads it with ``nsd-control`` over a unix socket (no TLS keys).

The benchmarks (bench/) start it with `LOAD_OPTIONS` and serve zone files they wrote
themselves (`add_zone_file`), and read its query counter (`query_count`).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

HOST = "127.0.0.1"
NSD_CANDIDATES = ("/usr/sbin/nsd", "/usr/local/sbin/nsd")
_START_ATTEMPTS = 5
_READY_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_PROBE_TIMEOUT = 0.2
_POLL_INTERVAL = 0.005
# sun_path is 108 bytes on Linux (104 on the BSDs); stay well below both.
_MAX_SOCKET_PATH = 100
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
# For a server under load from a client on the same machine (the benchmarks): socket
# buffers large enough that a burst of hundreds of queries in flight is not dropped by
# the kernel (a drop costs the client a timeout). server-count stays 1, so NSD uses one
# core and leaves the other to the client.
LOAD_OPTIONS: Mapping[str, str] = {
    "receive-buffer-size": str(8 * 1024 * 1024),
    "send-buffer-size": str(8 * 1024 * 1024),
}
# NSD's log line when a zone file has errors: the zone is (or becomes, on a
# reload) unloaded and answers SERVFAIL.
_ZONE_ERRORS = re.compile(r"error: zone (\S+) file .* read with \d+ errors")


class NsdError(RuntimeError):
    """NSD failed to start, reload or apply a change; the message carries its log."""


def find_binary(name: str, candidates: Sequence[str]) -> Path | None:
    """``name`` on the PATH, else the first executable of ``candidates`` (sbin is often
    not on a user's PATH), else None."""
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def find_nsd() -> Path | None:
    """Return the path of the nsd binary, or None when NSD is not installed."""
    return find_binary("nsd", NSD_CANDIDATES)


def nsd_version(nsd_binary: Path | None = None) -> str:
    """The first line of ``nsd -v`` ("NSD version 4.6.1"), or "unknown"."""
    binary = nsd_binary if nsd_binary is not None else find_nsd()
    if binary is None:
        return "unknown"
    done = subprocess.run(
        [str(binary), "-v"], capture_output=True, text=True, timeout=10, check=False
    )
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0] if lines else "unknown"


def _ephemeral_ports() -> tuple[int, int]:
    """The range the kernel draws clients' source ports from (Linux's default if unknown)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def pick_free_port(host: str = HOST, attempts: int = 50) -> int:
    """Return a port that is free for both UDP and TCP on `host` right now, outside the
    range the kernel gives clients' source ports.

    A client that connects on loopback to a port nobody listens on yet, from a source
    port equal to it, is connected to itself (TCP simultaneous open): its request comes
    back as the answer ("BadStatusLine: GET /healthz") and the server then cannot bind.
    A server port outside the ephemeral range cannot be a client's source port.

    Raises:
        OSError: no port was free for both protocols after `attempts` tries.
    """
    low, _high = _ephemeral_ports()
    candidates = range(10_000, low) if low > 11_000 else range(1024, 10_000)
    for port in random.sample(candidates, attempts):
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        ):
            try:
                udp.bind((host, port))
                tcp.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no port free for both UDP and TCP on {host} after {attempts} tries")


def absolute(name: str) -> str:
    """Return `name` as an absolute domain name (with the trailing dot)."""
    return name if name.endswith(".") else name + "."


class StartNsd(Protocol):
    """The `nsd_factory` fixture: write `zones` (and `broken` ones), start NSD, return it."""

    def __call__(
        self,
        zones: Mapping[str, Sequence[str] | str] | None = None,
        *,
        broken: Sequence[str] = (),
    ) -> NsdServer: ...


@dataclass(slots=True)
class _Zone:
    origin: str  # absolute, with trailing dot
    path: Path
    serial: int
    broken: bool


class NsdServer:
    """One NSD process serving zone files written by the test, on 127.0.0.1:`port`.

    Typical use: ``add_zone(...)`` for every zone, then ``start()``; later
    ``add_zone(...)`` / ``add_broken_zone(...)`` again and ``reload()``.

    `options` are more ``server:`` settings for nsd.conf (name without the colon ->
    value), added to or replacing the defaults, e.g. `LOAD_OPTIONS`. `ready_timeout`
    is how long a start or reload may take to become visible; many or large zones
    take longer to load than the 10 s default allows.
    """

    def __init__(
        self,
        directory: Path,
        *,
        nsd_binary: Path | None = None,
        options: Mapping[str, str] | None = None,
        ready_timeout: float = _READY_TIMEOUT,
    ) -> None:
        binary = nsd_binary if nsd_binary is not None else find_nsd()
        if binary is None:
            raise NsdError("nsd not installed: apt-get install nsd")
        self._nsd = binary
        control = binary.with_name("nsd-control")
        which_control = shutil.which("nsd-control")
        if not os.access(control, os.X_OK) and which_control is not None:
            control = Path(which_control)
        self._nsd_control = control if os.access(control, os.X_OK) else None
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._host = HOST
        self._port = 0
        self._serial = 0
        self._zones: dict[str, _Zone] = {}
        self._dirty: set[str] = set()
        self._served: set[str] = set()  # origins in the config NSD last read
        self._proc: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self._options = dict(options or {})
        self._ready_timeout = ready_timeout

    # -- addresses ---------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The DNS port (UDP and TCP); 0 until `start()`."""
        return self._port

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``."""
        return f"{self._host}:{self._port}"

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def config_path(self) -> Path:
        return self._dir / "nsd.conf"

    @property
    def log_path(self) -> Path:
        """NSD's stderr (it logs there in foreground mode)."""
        return self._dir / "nsd.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def serial(self, origin: str) -> int:
        """Return the SOA serial last written for `origin`."""
        return self._zones[absolute(origin).lower()].serial

    def log(self) -> str:
        """Return everything NSD has logged so far."""
        return self._log_since(0)

    # -- zones -------------------------------------------------------------

    def add_zone(
        self,
        origin: str,
        records: Sequence[str] | str,
        *,
        soa_minimum: int = 60,
        ttl: int = 300,
    ) -> None:
        """Write (or rewrite) the zone file for `origin` with a fresh SOA serial.

        `records` are zone-file lines, names relative to `origin` or absolute:
        ``"2.0.0.127 IN A 127.0.0.2"``, ``'* IN TXT "listed"'``. The SOA and an
        NS record (``localhost.``, so no in-zone name is added) are written for
        you. Call `reload()` afterwards if the server is already running.
        """
        lines = [records] if isinstance(records, str) else list(records)
        zone = self._register(origin, broken=False)
        header = [
            f"$ORIGIN {zone.origin}",
            f"$TTL {ttl}",
            f"@ IN SOA localhost. hostmaster.{zone.origin} "
            f"{zone.serial} 3600 600 86400 {soa_minimum}",
            "@ IN NS localhost.",
        ]
        zone.path.write_text("\n".join([*header, *lines]) + "\n")

    def add_zone_file(self, origin: str, path: Path, *, serial: int) -> None:
        """Serve `origin` from a complete zone file the caller wrote (its own SOA and NS).

        For zones written elsewhere, such as the benchmarks' generated zones: the file is
        served as it is, where it is. `serial` is the SOA serial it carries; a start or
        reload waits until NSD answers with it. Call `reload()` afterwards if the server
        is already running.
        """
        zone = self._register(origin, broken=False)
        zone.path = Path(path).resolve()
        zone.serial = serial

    def add_broken_zone(self, origin: str) -> None:
        """Serve `origin` from a zone file that fails to parse: NSD answers SERVFAIL.

        NSD keeps a configured zone whose file has errors (here: no SOA) as
        "not loaded" and answers every query in it with SERVFAIL. This also
        holds for a zone already served: NSD 4 (with ``database: ""``) drops the
        old copy when a reload reads a bad file, it does not keep serving it.
        """
        zone = self._register(origin, broken=True)
        zone.path.write_text(f"$ORIGIN {zone.origin}\n@ IN SOA ((( this does not parse\n")

    def _register(self, origin: str, *, broken: bool) -> _Zone:
        name = absolute(origin)
        if name == ".":
            raise ValueError("the root zone is not supported")
        key = name.lower()
        self._serial += 1
        path = self._dir / (_SAFE_FILENAME.sub("_", name.rstrip(".")) + ".zone")
        zone = self._zones.get(key)
        if zone is None:
            zone = _Zone(origin=name, path=path, serial=self._serial, broken=broken)
            self._zones[key] = zone
        else:
            zone.serial = self._serial
            zone.broken = broken
            zone.path = path
        self._dirty.add(key)
        return zone

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Self:
        """Start NSD on a free port and wait until every zone is answered.

        Raises:
            NsdError: NSD exited or did not answer in time (message has its log).
        """
        if self._proc is not None:
            raise NsdError("already started")
        for attempt in range(_START_ATTEMPTS):
            self._port = pick_free_port(self._host)
            try:
                self._spawn_and_wait()
            except NsdError as exc:
                # Another process can grab the port between our probe and NSD's
                # bind; only that failure is worth another port.
                if "already in use" in str(exc) and attempt + 1 < _START_ATTEMPTS:
                    continue
                raise
            return self
        raise AssertionError("unreachable")

    def _spawn_and_wait(self) -> None:
        self._write_config()
        log_offset = self._log_size()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(self._nsd), "-d", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                start_new_session=True,  # so stop() can kill NSD's children too
            )
        self._served = set(self._zones)
        try:
            # The log line proves the answers come from our NSD, not from another
            # server that grabbed the port after NSD failed to bind it.
            self._wait_until(
                lambda: "nsd started" in self._log_since(log_offset) and self._all_zones_visible(),
                "start",
                log_offset,
            )
        except NsdError:
            self._terminate()
            raise
        self._dirty.clear()

    def reload(self) -> None:
        """Apply every `add_zone`/`add_broken_zone` since the last start or reload.

        New zones need the config re-read (``nsd-control reconfig``); changed
        zone files are re-read with ``nsd-control reload ZONE``. Without
        nsd-control, NSD is restarted on the same port. Returns once NSD
        answers with the new SOA serial (or SERVFAIL for broken zones).

        Raises:
            NsdError: the server is not running, or the change did not become
                visible in time.
        """
        if not self.running:
            raise NsdError("reload() needs a running server; call start() first")
        if not self._dirty:
            return
        if self._nsd_control is None:
            self._restart()
            return
        new = set(self._zones) - self._served
        changed = self._dirty - new
        log_offset = self._log_size()
        # A reload forks fresh server children; the old ones keep answering from
        # the old data until they exit, so "new serial seen once" is not enough.
        old_servers = self._server_pids()
        if new:
            self._write_config()
            self._control("reconfig")
            self._served = set(self._zones)
        for key in sorted(changed):
            self._control("reload", self._zones[key].origin)
        self._wait_until(self._all_zones_visible, "reload", log_offset, old_servers)
        self._dirty.clear()

    def _restart(self) -> None:
        port = self._port
        self._terminate()
        self._port = port
        self._spawn_and_wait()

    def stop_keeping_port(self) -> None:
        """Stop NSD, to be started again on the same port by ``start_again`` (a resolver
        outage: queries to the port meanwhile get ICMP port unreachable)."""
        self._terminate()

    def start_again(self) -> None:
        """Start NSD again on the port it had before ``stop_keeping_port``.

        Raises:
            NsdError: it did not start (the port was taken meanwhile, say).
        """
        if self._proc is not None or not self._port:
            raise NsdError("start_again() needs a server stopped by stop_keeping_port()")
        self._spawn_and_wait()

    def stop(self) -> None:
        """Stop NSD (SIGTERM, then SIGKILL to its process group on timeout)."""
        self._terminate()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> Self:
        if self._proc is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<NsdServer {self.address} {state} zones={sorted(self._zones)}>"

    # -- internals ---------------------------------------------------------

    def _control_socket(self) -> Path:
        path = self._dir / "nsd.ctl"
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        if self._socket_dir is None:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="nsdctl-"))
        return self._socket_dir / "nsd.ctl"

    def _write_config(self) -> None:
        d = self._dir
        settings = {
            "ip-address": f"{self._host}@{self._port}",
            "port": str(self._port),
            "username": '""',
            "chroot": '""',
            "zonesdir": f'"{d}"',
            "database": '""',
            "pidfile": f'"{d / "nsd.pid"}"',
            "zonelistfile": f'"{d / "zone.list"}"',
            "xfrdfile": f'"{d / "xfrd.state"}"',
            "xfrdir": f'"{d}"',
            "xfrd-reload-timeout": "0",
            "verbosity": "1",
            "hide-version": "yes",
            "hide-identity": "yes",
            "server-count": "1",
            # NSD rate-limits per source by default (RRL); tests query in bursts.
            "rrl-ratelimit": "0",
            "rrl-whitelist-ratelimit": "0",
            **self._options,
        }
        server = [
            "server:",
            *(f"    {name}: {value}" for name, value in settings.items()),
            "remote-control:",
            "    control-enable: yes",
            f'    control-interface: "{self._control_socket()}"',
        ]
        zones: list[str] = []
        for zone in self._zones.values():
            zones += ["zone:", f"    name: {zone.origin}", f'    zonefile: "{zone.path}"']
        self.config_path.write_text("\n".join([*server, *zones]) + "\n")

    def query_count(self) -> int | None:
        """Queries NSD has answered since it started (``nsd-control stats_noreset``).

        None when there is no nsd-control or NSD was built without statistics.
        """
        if self._nsd_control is None or not self.running:
            return None
        try:
            stats = self._control("stats_noreset")
        except (NsdError, subprocess.TimeoutExpired):
            return None
        match = re.search(r"^num\.queries=(\d+)$", stats, re.MULTILINE)
        return int(match.group(1)) if match else None

    def _control(self, *args: str) -> str:
        """Run nsd-control with `args`; return what it printed.

        Raises:
            NsdError: it failed or said "error".
        """
        assert self._nsd_control is not None
        result = subprocess.run(
            [str(self._nsd_control), "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=self._ready_timeout,
            check=False,
        )
        if result.returncode != 0 or result.stdout.startswith("error"):
            raise NsdError(
                f"nsd-control {' '.join(args)} failed ({result.returncode}): "
                f"{result.stdout}{result.stderr}\n--- nsd log ---\n{self.log()}"
            )
        return result.stdout

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _wait_until(
        self,
        ready: Callable[[], bool],
        what: str,
        log_offset: int,
        old_servers: frozenset[int] = frozenset(),
    ) -> None:
        deadline = time.monotonic() + self._ready_timeout

        def old_servers_gone() -> bool:
            return not any(_alive_in_group(pid, self._pgid) for pid in old_servers)

        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise NsdError(f"nsd exited during {what} (exit {code}):\n{self.log()}")
            if old_servers_gone() and ready():
                return
            rejected = self._rejected_zones(log_offset)
            if rejected:
                while not old_servers_gone() and time.monotonic() < deadline:
                    time.sleep(_POLL_INTERVAL)
                raise NsdError(f"nsd rejected zone file(s) {rejected} on {what}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise NsdError(
                    f"nsd not ready after {what} within {self._ready_timeout}s:\n{self.log()}"
                )
            time.sleep(_POLL_INTERVAL)

    @property
    def _pgid(self) -> int:
        # start_new_session: NSD's first process leads the group of all its processes.
        return -1 if self._proc is None else self._proc.pid

    def _server_pids(self) -> frozenset[int]:
        """PIDs of NSD's current server processes: the leaves of its process tree.

        NSD's first process becomes xfrd (the one nsd-control talks to); it forks
        the main process, which forks the servers. Empty where /proc is missing.
        """
        parents: dict[int, int] = {}
        try:
            entries = os.listdir("/proc")
        except OSError:
            return frozenset()
        for entry in entries:
            if entry.isdigit() and _alive_in_group(int(entry), self._pgid):
                parents[int(entry)] = _proc_stat(int(entry))[1]
        with_children = set(parents.values())
        return frozenset(pid for pid in parents if pid not in with_children and pid != self._pgid)

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _rejected_zones(self, log_offset: int) -> list[str]:
        """Zones meant to load that NSD logged errors for since `log_offset`."""
        new_log = self._log_since(log_offset)
        rejected = []
        for match in _ZONE_ERRORS.finditer(new_log):
            zone = self._zones.get(absolute(match.group(1)).lower())
            if zone is not None and not zone.broken:
                rejected.append(zone.origin)
        return rejected

    def _all_zones_visible(self) -> bool:
        if not self._zones:
            # No zone to ask for: any answer (REFUSED) proves NSD is serving.
            return self._query_soa("invalid.") is not None
        for zone in self._zones.values():
            response = self._query_soa(zone.origin)
            if response is None:
                return False
            if zone.broken:
                if response.rcode() != dns.rcode.SERVFAIL:
                    return False
            elif _soa_serial(response) != zone.serial:
                return False
        return True

    def _query_soa(self, name: str) -> dns.message.Message | None:
        query = dns.message.make_query(name, dns.rdatatype.SOA)
        query.flags &= ~dns.flags.RD
        # A connected socket turns ICMP port-unreachable (NSD not bound yet) into
        # an immediate ConnectionRefusedError instead of a silent probe timeout.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # dnspython only honours its timeout on these
            try:
                sock.connect((self._host, self._port))
                return dns.query.udp(
                    query, self._host, port=self._port, timeout=_PROBE_TIMEOUT, sock=sock
                )
            except (dns.exception.DNSException, OSError):
                return None


def _proc_stat(pid: int) -> tuple[str, int, int]:
    """(state, ppid, pgid) of `pid` from /proc; ("X", 0, 0) if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return ("X", 0, 0)
    return (fields[0].decode(), int(fields[1]), int(fields[2]))


def _alive_in_group(pid: int, pgid: int) -> bool:
    state, _, group = _proc_stat(pid)
    return group == pgid and state not in ("Z", "X")


def _soa_serial(response: dns.message.Message) -> int | None:
    if response.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            serial: int = rrset[0].serial
            return serial
    return None
