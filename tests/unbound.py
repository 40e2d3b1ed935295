"""Debian's Unbound on 127.0.0.1 running the shipped deploy/unbound.conf, for integration tests.

`loopback_config` adapts the shipped file for a test and nothing more: it listens on
127.0.0.1 on a free port and answers loopback only (the compose network's
access-control line goes), keeps its state, trust anchor and control socket in the
test's directory and does not switch users; it may send queries to 127.0.0.1 (Unbound
refuses to by default), and the test's zones are delegated to the test's own NSD with
``stub-zone`` (a delegation to an authoritative server, not a forwarder). Unsigned test
zones are ``domain-insecure``; a signed one gets its ``trust-anchor``. Every other line
is the shipped one. `UnboundServer` runs ``unbound -d -p`` on it.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
from dnsserver import HOST, find_binary, pick_free_port

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "unbound.conf"
UNBOUND_CANDIDATES = ("/usr/sbin/unbound", "/usr/local/sbin/unbound")
# The root zone's KSK-2017 (DS 20326), as IANA publishes it: the trust anchor the
# shipped file reads from its auto-trust-anchor-file (a copy in the test directory).
ROOT_ANCHOR = ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
_READY_TIMEOUT = 15.0

# server: key -> the test's value; {dir} and {port} are filled in.
_LOOPBACK = {
    "interface": "127.0.0.1",
    "port": "{port}",
    "username": '""',
    "directory": '"{dir}"',
    "auto-trust-anchor-file": '"{dir}/root.key"',
    "control-interface": "{dir}/unbound.ctl",
}
_SETTING = re.compile(r"^(\s*)([a-z0-9-]+):\s*(.*?)\s*$")


class UnboundError(RuntimeError):
    """Unbound did not start or did not answer; the message carries its log."""


def find_unbound() -> Path | None:
    return find_binary("unbound", UNBOUND_CANDIDATES)


def loopback_config(
    directory: Path,
    port: int,
    *,
    stubs: Mapping[str, str],
    insecure: Sequence[str] = (),
    trust_anchors: Sequence[str] = (),
    shipped: str | None = None,
) -> str:
    """The shipped config with the loopback changes; ``stubs``: zone -> ``host:port``."""
    text = shipped if shipped is not None else SHIPPED.read_text("utf-8")
    lines = []
    for line in text.splitlines():
        match = _SETTING.match(line)
        if match is not None:
            indent, key, value = match.groups()
            if key == "access-control" and not value.startswith(("0.0.0.0/0", "127.")):
                continue  # the compose network: a test answers loopback only
            if key in _LOOPBACK:
                value = _LOOPBACK[key].format(dir=directory, port=port)
                line = f"{indent}{key}: {value}"
        lines.append(line)
    added = ["    do-not-query-localhost: no"]
    added += [f'    domain-insecure: "{zone}"' for zone in insecure]
    added += [f'    trust-anchor: "{anchor}"' for anchor in trust_anchors]
    server_at = next(i for i, line in enumerate(lines) if line.strip() == "server:")
    lines[server_at + 1 : server_at + 1] = added
    for zone, address in stubs.items():
        host, _, stub_port = address.rpartition(":")
        lines += ["", "stub-zone:", f'    name: "{zone}"', f"    stub-addr: {host}@{stub_port}"]
    return "\n".join(lines) + "\n"


class UnboundServer:
    """``unbound -d -p -c CONF`` on a free loopback port, in ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        stubs: Mapping[str, str],
        insecure: Sequence[str] = (),
        trust_anchors: Sequence[str] = (),
        binary: Path | None = None,
    ) -> None:
        found = binary or find_unbound()
        if found is None:
            raise UnboundError("unbound not installed: apt-get install unbound")
        self._binary = found
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._stubs = dict(stubs)
        self._insecure = tuple(insecure)
        self._anchors = tuple(trust_anchors)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self._dir / "unbound.conf"

    @property
    def log_path(self) -> Path:
        return self._dir / "unbound.log"

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def start(self) -> Self:
        self.port = pick_free_port()
        (self._dir / "root.key").write_text(ROOT_ANCHOR)
        self.config_path.write_text(
            loopback_config(
                self._dir,
                self.port,
                stubs=self._stubs,
                insecure=self._insecure,
                trust_anchors=self._anchors,
            )
        )
        check = subprocess.run(
            [str(self._binary.with_name("unbound-checkconf")), str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise UnboundError(
                f"unbound-checkconf refused the config:\n{check.stdout}{check.stderr}"
            )
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(self._binary), "-d", "-p", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
            )
        deadline = time.monotonic() + _READY_TIMEOUT
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise UnboundError(f"unbound did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        query = dns.message.make_query("localhost.", dns.rdatatype.A)
        try:
            dns.query.udp(query, HOST, timeout=0.2, port=self.port)
        except (dns.exception.Timeout, OSError):
            return False
        return True

    def control(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``unbound-control -c CONF ARGS`` (the compose health check is ``status``)."""
        return subprocess.run(
            [str(self._binary.with_name("unbound-control")), "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
