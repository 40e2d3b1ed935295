"""Bounce findings through the daemon's own notifiers: a burst of Gmail 4.7.28 deferrals
and a Spamhaus-citing rejection, written to the MTA log the daemon follows, each give one
firing notification at a webhook receiver; a restart does not announce them again; once
the window has passed each resolves once.

The first test runs ``delivermon run``. The window (``[bounces] window``, at least an hour
of hourly buckets) cannot pass inside a test run against a process's wall clock, so the
resolution is shown in process, on the same composition (``Daemon``) with a clock the
test moves, the lines still read from the log by the mtalog job and the notifications
still POSTed by the outbox to the receiver.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from daemon import DaemonProcess, fast_config, wait_for
from receiver import Receiver

from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions

IP = "192.0.2.10"
BURST = 12  # above [bounces] ratelimit_threshold (10)
RATELIMIT = "bounce_reputation_ratelimit"
CITED = "bounce_blocklist_cited"


def gmail_deferral(n: int, at: dt.datetime) -> str:
    stamp = at.isoformat(timespec="microseconds")
    return (
        f"{stamp} mx postfix/smtp[101]: 5B1C2D{n:02X}: to=<reader{n}@gmail.com>, "
        "relay=gmail-smtp-in.l.google.com[192.0.2.27]:25, delay=1, delays=0/0/0/1, dsn=4.7.28, "
        "status=deferred (host gmail-smtp-in.l.google.com[192.0.2.27] said: 421-4.7.28 Gmail "
        f"has detected an unusual rate of unsolicited mail originating from your IP address {IP}."
        " - gsmtp (in reply to end of DATA command))"
    )


def spamhaus_rejection(at: dt.datetime) -> str:
    stamp = at.isoformat(timespec="microseconds")
    return (
        f"{stamp} mx postfix/smtp[102]: 6C2D3E4F: to=<someone@outlook.com>, "
        "relay=outlook-com.olc.protection.outlook.com[192.0.2.40]:25, delay=1, dsn=5.7.1, "
        "status=bounced (host outlook-com.olc.protection.outlook.com[192.0.2.40] said: "
        f"550 5.7.1 Service unavailable, Client host [{IP}] blocked using Spamhaus. To request "
        f"removal from this list see https://www.spamhaus.org/query/ip/{IP} "
        "(in reply to MAIL FROM command))"
    )


def lines(at: dt.datetime) -> str:
    return "".join(gmail_deferral(n, at) + "\n" for n in range(BURST)) + (
        spamhaus_rejection(at) + "\n"
    )


def config_text(tmp_path: Path, nameserver: str, hook: str, log: Path) -> str:
    return fast_config(
        nameserver=nameserver,
        zones=[],
        store_url=f"sqlite:///{tmp_path / 'delivermon.db'}",
        notify_url=hook,
        extra=f'[bounces]\nmta_logs = ["{log}"]\nlog_interval = "1s"\n',
    )


def sent(receiver: Receiver, kind: str, status: str = "firing") -> list[dict[str, object]]:
    return receiver.matching(kind=kind, status=status)


def campaign_runs(daemon: DaemonProcess) -> float:
    return daemon.value("delivermon_job_runs_total", task="campaigns", outcome="success") or 0


def test_a_burst_and_a_citation_are_announced_once_and_not_again_after_a_restart(
    tmp_path: Path, closed_udp_port: str, receiver: Receiver
) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    config = tmp_path / "delivermon.toml"
    config.write_text(config_text(tmp_path, closed_udp_port, receiver.url, log))
    with DaemonProcess(config) as daemon:
        wait_for(lambda: campaign_runs(daemon) >= 1, what="a first campaigns run")
        with log.open("a") as f:
            f.write(lines(dt.datetime.now(dt.UTC)))
        burst = wait_for(lambda: sent(receiver, RATELIMIT), what="the rate-limit notification")
        cited = wait_for(lambda: sent(receiver, CITED), what="the blocklist notification")
        runs = campaign_runs(daemon)
        wait_for(lambda: campaign_runs(daemon) >= runs + 3, what="three more campaigns runs")
        time.sleep(1.5)  # the notify job's interval: anything queued would be out by now
    assert len(sent(receiver, RATELIMIT)) == 1
    assert len(sent(receiver, CITED)) == 1
    assert burst[0]["severity"] == "warning"
    assert burst[0]["labels"] == {"provider": "google"}
    assert burst[0]["key"] == "bounce_reputation_ratelimit:google"
    assert cited[0]["severity"] == "critical"
    assert cited[0]["labels"] == {"provider": "microsoft", "blocklist": "spamhaus"}
    assert receiver.matching(status="resolved") == []
    assert len(receiver.received) == 2, receiver.received

    # A restart: the alerts are still firing in the store, so nothing is announced again
    # (the log is read again from its start: each line counts once).
    with DaemonProcess(config) as daemon:
        wait_for(lambda: campaign_runs(daemon) >= 3, what="three campaigns runs after restart")
        assert (
            daemon.value(
                "delivermon_bounce_finding",
                code="bounce.reputation_ratelimit",
                provider="google",
                blocklist="",
                sweep="",
                campaign="",
            )
            == 1
        )
        time.sleep(1.5)
    assert len(receiver.received) == 2, receiver.received


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def test_each_resolves_once_when_the_window_has_passed(
    tmp_path: Path, closed_udp_port: str, receiver: Receiver
) -> None:
    clock = Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    log = tmp_path / "mail.log"
    log.write_text(lines(clock.now))
    text = config_text(tmp_path, closed_udp_port, receiver.url, log)
    path = tmp_path / "delivermon.toml"
    path.write_text(text)
    daemon = Daemon(
        parse_config(text), DaemonOptions(config_path=path, listen="127.0.0.1:0"), clock=clock
    )
    await daemon.start()
    try:
        jobs = daemon.services
        await jobs.feedback.mtalog()
        for _ in range(3):
            await jobs.feedback.campaigns()
            await jobs.outbox.send_due()
        assert len(sent(receiver, RATELIMIT)) == 1
        assert len(sent(receiver, CITED)) == 1
        # Two hours on, the lines' hour has left the 1 h window: clear, twice
        # ([alerts] resolve_after = 2), then one resolved notification each.
        clock.now += dt.timedelta(hours=2, minutes=1)
        await jobs.feedback.campaigns()
        await jobs.outbox.send_due()
        assert sent(receiver, RATELIMIT, "resolved") == []
        for _ in range(3):
            await jobs.feedback.campaigns()
            await jobs.outbox.send_due()
    finally:
        await daemon.stop()
    (resolved,) = sent(receiver, RATELIMIT, "resolved")
    assert resolved["key"] == "bounce_reputation_ratelimit:google"
    assert len(sent(receiver, CITED, "resolved")) == 1
    assert len(sent(receiver, RATELIMIT)) == 1
    assert len(receiver.received) == 4, receiver.received


def test_an_mta_log_that_cannot_be_read_is_one_warning_and_its_return_one_line(
    tmp_path: Path, closed_udp_port: str, receiver: Receiver
) -> None:
    """The followed log is replaced by a directory while the daemon runs: one WARNING
    line (no traceback, the job does not fail), and one line once it is a file again."""
    log = tmp_path / "mail.log"
    log.write_text("")
    config = tmp_path / "delivermon.toml"
    config.write_text(config_text(tmp_path, closed_udp_port, receiver.url, log))

    def mtalog_runs(daemon: DaemonProcess) -> float:
        return daemon.value("delivermon_job_runs_total", task="mtalog", outcome="success") or 0

    with DaemonProcess(config) as daemon:
        wait_for(lambda: mtalog_runs(daemon) >= 1, what="a first mtalog run")
        log.unlink()
        log.mkdir()
        runs = mtalog_runs(daemon)
        wait_for(lambda: mtalog_runs(daemon) >= runs + 3, what="three mtalog runs")
        log.rmdir()
        log.write_text(lines(dt.datetime.now(dt.UTC)))
        wait_for(lambda: "mta log readable again" in daemon.log(), what="the recovery line")
        failures = daemon.value("delivermon_job_runs_total", task="mtalog", outcome="failure")
        text = daemon.log()
    assert text.count("cannot read an mta log") == 1, text
    assert "IsADirectoryError" in text
    assert "Traceback" not in text
    assert not failures
