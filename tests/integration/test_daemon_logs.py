"""What the daemon writes to its log at the default level, in both formats: start-up lines,
one summary per sweep and auth run, the shutdown, and nothing per scheduler tick or
request; a resolver that gives no answers said once, with the fix, and its return once.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest
from daemon import DaemonProcess, fast_config, wait_for
from dnsserver import NsdServer, StartNsd
from receiver import Receiver

pytestmark = pytest.mark.nsd

ZONE = "bl.logs.test"
IP = "192.0.2.10"
RUN_SECONDS = 120.0  # the "two minutes"

# (logger, message) of every line a quiet, healthy daemon may write at INFO.
START_UP = {
    ("alembic.runtime.migration", "Running upgrade"),  # a prefix: "Running upgrade 0001 -> ..."
    ("monitor.store.store", "store opened"),
    ("monitor.daemon.app", "config loaded"),
    ("monitor.daemon.app", "daemon started"),
    ("monitor.daemon.app", "campaigns registered from config"),
    ("monitor.daemon.checkjobs", "zones self-tested"),
}
SUMMARIES = {
    ("monitor.daemon.checkjobs", "sweep done"),
    ("monitor.daemon.checkjobs", "auth checks done"),
    ("monitor.daemon.feedbackjobs", "retention purge"),
}
SHUTDOWN = {("monitor.daemon.app", "shutting down"), ("monitor.daemon.app", "daemon stopped")}
ALLOWED = START_UP | SUMMARIES | SHUTDOWN


def config(tmp: Path, nsd_address: str, receiver: Receiver, *, name: str, extra: str = "") -> Path:
    path = tmp / name / "delivermon.toml"
    path.parent.mkdir()
    path.write_text(
        fast_config(
            nameserver=nsd_address,
            zones=[ZONE],
            store_url=f"sqlite:///{path.parent / 'delivermon.db'}",
            notify_url=receiver.url,
            extra=f"""
[[domains]]
name = "example.com"
sending_ips = ["{IP}"]

[[campaigns]]
id = "spring"
category = "commercial"
{extra}""",
        )
    )
    return path


@pytest.fixture
def nsd(nsd_factory: StartNsd) -> NsdServer:
    return nsd_factory(
        {
            ZONE: ["2.0.0.127 IN A 127.0.0.2"],
            "example.com": ['@ IN TXT "v=spf1 ip4:192.0.2.10 -all"', "@ IN MX 10 mail"],
        }
    )


def text_entries(log: str) -> list[tuple[str, str, str]]:
    """(level, logger, line) of each text line; a traceback line has no level."""
    entries = []
    for line in log.splitlines():
        level, _, rest = line.partition(" ")
        logger, _, message = rest.partition(" ")
        entries.append((level, logger, message))
    return entries


def allowed(logger: str, message: str) -> bool:
    return any(logger == name and message.startswith(text) for name, text in ALLOWED)


def runs(daemon: DaemonProcess, task: str) -> float:
    return daemon.value("delivermon_job_runs_total", task=task, outcome="success") or 0


def test_two_minutes_at_the_default_level_are_start_up_lines_and_job_summaries(
    tmp_path: Path, nsd: NsdServer, receiver: Receiver
) -> None:
    text = DaemonProcess(config(tmp_path, nsd.address, receiver, name="text"))
    structured = DaemonProcess(
        config(tmp_path, nsd.address, receiver, name="json", extra='\n[log]\nformat = "json"\n')
    )
    with text, structured:
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:  # requests too: none may be logged at INFO
            for daemon in (text, structured):
                assert daemon.get("/metrics")[0] == 200
                daemon.get("/readyz")
                daemon.get("/api/v1/targets")
            time.sleep(1.0)
        for daemon in (text, structured):  # many ticks happened, none of them logged
            assert runs(daemon, "notify") >= 60
            assert runs(daemon, "campaigns") >= 60
            assert runs(daemon, "sweep") >= 30
            assert runs(daemon, "auth") >= 10

    entries = text_entries(text.log())
    unexpected = [e for e in entries if e[0] != "INFO" or not allowed(e[1], e[2])]
    assert unexpected == []
    messages = [f"{logger} {message}" for _level, logger, message in entries]
    assert sum(m.startswith("monitor.daemon.checkjobs sweep done") for m in messages) >= 30
    assert messages[-1].startswith("monitor.daemon.app daemon stopped")

    documents = [json.loads(line) for line in structured.log().splitlines()]  # every line
    assert documents
    for doc in documents:
        assert {"time", "level", "logger", "message"} <= set(doc)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", doc["time"])
    strays = [
        d for d in documents if d["level"] != "INFO" or not allowed(d["logger"], d["message"])
    ]
    assert strays == []
    summary = next(d for d in documents if d["message"] == "sweep done")
    # an IP and a domain; the IPv4 list applies to the IP only
    assert (summary["targets"], summary["checks"], summary["unknown"]) == (2, 1, 0)
    started = next(d for d in documents if d["message"] == "daemon started")
    assert started["event_loop"] == "uvloop"  # the default where the platform has it
    assert {d["message"] for d in documents} >= {
        "config loaded",
        "daemon started",
        "auth checks done",
    }


def test_a_resolver_that_gives_no_answers_is_said_once_with_the_fix(
    tmp_path: Path, nsd: NsdServer, receiver: Receiver, closed_udp_port: str
) -> None:
    path = config(tmp_path, closed_udp_port, receiver, name="down")
    with DaemonProcess(path) as daemon:
        wait_for(lambda: runs(daemon, "selftest") >= 4, what="four self-tests")
        log = daemon.log()
        said = [line for line in log.splitlines() if "no DNSBL verdicts" in line]
        assert len(said) == 1
        assert said[0].startswith("WARNING monitor.daemon.checkjobs ")
        assert closed_udp_port in said[0]
        assert "[dns] nameservers" in said[0]
        assert "unbound" in said[0]
        assert "delivermon doctor" in said[0]
        assert "checkjobs zone fails its self-test" not in log  # the zones are not at fault

        path.write_text(path.read_text().replace(closed_udp_port, nsd.address))
        daemon.signal(signal.SIGHUP)
        wait_for(
            lambda: "the DNSBL resolver answers again" in daemon.log(),
            what="the resolver's return in the log",
        )
        before = runs(daemon, "selftest")
        wait_for(lambda: runs(daemon, "selftest") >= before + 2, what="two more self-tests")
        log = daemon.log()
    assert log.count("no DNSBL verdicts") == 1
    assert log.count("the DNSBL resolver answers again") == 1
    assert "Traceback" not in log
