"""Run ``delivermon run`` as a separate process, as an operator would, and talk to it over HTTP.

Used by the end-to-end tests: the daemon reads a config the test writes, checks
targets against the test's NSD on 127.0.0.1, and serves /metrics, /readyz and
the API on a loopback port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Self, TypeVar

import leaks
from cli import delivermon_command
from dnsserver import pick_free_port
from prometheus_client.parser import text_string_to_metric_families

_T = TypeVar("_T")


def wait_for(
    probe: Callable[[], _T | None], *, timeout: float = 60.0, what: str = "condition"
) -> _T:
    """Poll ``probe`` until it returns something truthy, and return that (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class DaemonProcess:
    """``delivermon run --config PATH --listen 127.0.0.1:PORT`` in a subprocess."""

    def __init__(self, config: Path, *, extra_args: tuple[str, ...] = (), port: int | None = None):
        self.config = config
        self.port = port or pick_free_port()
        self.extra_args = extra_args
        self.log_path = config.with_suffix(f".{self.port}.log")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.start_without_waiting()
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until /healthz answers (fails if the process exits first)."""
        wait_for(self._alive_and_listening, timeout=30, what=f"the daemon on {self.url}")

    def start_without_waiting(self) -> None:
        command = delivermon_command()
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                *command,
                "run",
                "--config",
                str(self.config),
                "--listen",
                f"127.0.0.1:{self.port}",
                *self.extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # The config's [log] decides the format, not the developer's environment.
            env={k: v for k, v in os.environ.items() if k != "DELIVERMON_LOG_FORMAT"},
        )

    def _alive_and_listening(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self._proc.returncode}:\n{self.log()}")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        self._proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        """The exit status of a process told to stop (by a signal the test sent)."""
        assert self._proc is not None
        return self._proc.wait(timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                raise AssertionError(f"the daemon ignored SIGTERM:\n{self.log()}") from None
        code = self._proc.returncode
        self._proc = None
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def get(self, path: str, *, token: str | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, token=token)

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, method=method, data=body)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read()
        if not path.startswith("/api/v1/subjects/"):  # a subject export is that person's data
            leaks.RESPONSES.append(answer)
        return status, answer

    def json(self, path: str, **kw: str) -> object:
        status, body = self.get(path, **kw)
        assert status == 200, (status, body)
        return json.loads(body)

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Samples of one metric (full sample name, e.g. ``..._total``) from /metrics."""
        status, body = self.get("/metrics")
        assert status == 200
        found = []
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == name:
                    found.append((dict(sample.labels), sample.value))
        return found

    def value(self, name: str, **labels: str) -> float | None:
        for sample_labels, value in self.samples(name):
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                return value
        return None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def iter_lines(path: Path) -> Iterator[str]:
    yield from path.read_text().splitlines()


PSEUDONYM_KEY = "0123456789abcdef0123456789abcdef"


def offline_config(
    store_url: str,
    *,
    zones: Sequence[str] = (),
    extra: str = "",
    nameserver: str = "127.0.0.1:9",
    timeout: float = 0.2,
    cache: bool = True,
) -> str:
    """A daemon config whose DNS is a closed loopback port (every query "could not tell",
    quickly), for tests that call the jobs themselves; or ``nameserver`` (an NSD the test
    serves; ``cache=False`` when it changes its answers or stops). ``extra`` is appended."""
    return f"""
[dns]
nameservers = ["{nameserver}"]
timeout = {timeout}
attempts = 1
{"" if cache else "cache_entries = 0"}
[dnsbl]
zones = {json.dumps(list(zones))}
[store]
url = "{store_url}"
[privacy]
pseudonym_key = "{PSEUDONYM_KEY}"
{extra}"""


def fast_config(
    *,
    nameserver: str,
    zones: Sequence[str],
    store_url: str,
    notify_url: str,
    new_series_hold: str = "1s",
    extra: str = "",
) -> str:
    """A daemon config for tests: intervals of a second or so, no DNS cache, one webhook.

    ``extra`` is appended: more sections ([http] tokens, [[domains]], [[campaigns]], ...).
    """
    return f"""
[dns]
nameservers = ["{nameserver}"]
timeout = 1.0
attempts = 1
cache_entries = 0

[dnsbl]
zones = {json.dumps(list(zones))}
interval = "1s"

[metrics]
# New campaign series are shown at 0 this long first (more than a 1 s scrape).
new_series_hold = "{new_series_hold}"

[schedule]
selftest_interval = "2s"
auth_interval = "3s"
drift_interval = "3s"
metrics_interval = "1s"
notify_interval = "1s"
jitter = 0.0

[alerts]
confirm_delay = 0.1
resolve_after = 2

[store]
url = "{store_url}"

[privacy]
pseudonym_key = "{PSEUDONYM_KEY}"

[[notify]]
kind = "webhook"
url = "{notify_url}"
min_severity = "info"
{extra}"""
