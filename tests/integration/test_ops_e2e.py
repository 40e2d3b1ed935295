"""The operations package end to end: the daemon, a real Prometheus and a real Alertmanager.

One stack for the whole module, all on 127.0.0.1:

* NSD serves ``zen.spamhaus.org`` (the catalogue's RFC 5782 test point 127.0.0.2,
  and 192.0.2.10 listed with 127.0.0.2; a critical list), ``bl.spamcop.net`` as a
  broken zone (SERVFAIL: the zone fails its self-test, so the sweeps record
  unknown results), and a compliant ``example.com`` (SPF, DMARC p=reject, a
  2048-bit DKIM key, MX, forward-confirmed PTR for its sending IP 192.0.2.10).
* ``delivermon run`` (tests/daemon.py) with 1-second intervals, an ingest token,
  campaign ``promo-7`` registered with ``[[campaigns]]``, and its own webhook
  notifier. Events go in through its HTTP API in two steps: a priming batch
  (one sent event and one ARF complaint report, so every counter of the campaign
  has a series), and once Prometheus has scraped it, 2000 delivered with 13
  complaints (12 events and a second ARF report): 0.65 %, above the 0.3 % line,
  with the 1000-delivered volume guard of the daemon and rules/recording.yml met.
  Prometheus' ``increase()`` does not count the first sample of a new series, so
  a campaign's counters must exist before the volume the alerts are about
  arrives (docs/metrics.md); the priming batch does that.
* Prometheus (``/usr/bin/prometheus``) with a config derived from the shipped
  prometheus.yml: the same rule files and the ``delivermon`` scrape job, pointed
  at the daemon and at the test's Alertmanager.
* Alertmanager (``/usr/bin/prometheus-alertmanager``, clustering off) with a
  config derived from the shipped alertmanager.yml: its route tree, grouping and
  inhibitions unchanged, each receiver's e-mail / Slack / webhook configs
  replaced by one webhook to the test's Receiver, so a notification tells which
  shipped receiver the shipped routing chose.

What the test rewrites, and why (the issue allows "evaluation interval shortened
by the test"): scrape and evaluation intervals become 1 s; in temporary copies
of rules/*.yml every ``for:`` becomes 1 s and every rule group's ``interval:``
(1m and 5m for the recording rules) becomes 1 s; Alertmanager's
``group_wait`` / ``group_interval`` become 1 s. Nothing else: the expressions,
labels, annotations, routes and inhibitions are the shipped ones. Without this
the complaint alert (``for: 15m`` on a recording rule evaluated every 5 minutes)
would need over 20 minutes.

DMARC (issue 13): example.com's SPF record (served by NSD) passes 192.0.2.10 (also a
configured sending IP) and 192.0.2.11 (SPF only). A Google aggregate report comes in
over HTTP, a Microsoft one through ``delivermon ingest dmarc`` on the daemon's
SQLite store and a Yahoo one by mail through the IMAP job (Dovecot), each with mail
from those two, a forwarder (aligned DKIM, SPF fail) and an unknown sender (250
messages each, rejected). The daemon's ``dmarc`` job must classify
them own, own, forwarder, unknown; the DMARC series must be in the scrape; the
unknown-sources alert must arrive once through Alertmanager and resolve once the
unknown IP is added to the SPF record in NSD (reclassified own).

Then: the critical-listing and critical complaint-rate alerts must arrive
through Alertmanager at the receivers the shipped routes name, with their
labels; their warning twins must be inhibited; and every query of every
dashboard panel (template variables at the dashboards' "All" value) must return
data from Prometheus' HTTP API, except panels marked ``delivermonMayBeEmpty``
in the dashboard that this scenario cannot fill (see MAY_STAY_EMPTY).

Needs NSD, prometheus and prometheus-alertmanager; skips without them, fails
under CI=true (tests/conftest.py ``require_server``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli import run_cli
from conftest import require_server
from daemon import DaemonProcess, wait_for
from dmarcreports import Row, aggregate_xml, report_mail
from dnsserver import NsdServer, StartNsd, pick_free_port
from dovecot import DovecotServer
from opsworld import (
    ADMIN,
    BROKEN_ZONE,
    CAMPAIGN,
    FORWARDER_IP,
    INGEST,
    IP,
    LISTING_ZONE,
    SPF_ONLY_IP,
    UNKNOWN_IP,
    write_config,
    zones,
)
from receiver import Receiver
from telemetryservers import SNDS_KEY, Postmaster, Snds, ThreadedApps, compliance_rows, snds_line

pytestmark = [pytest.mark.nsd, pytest.mark.prometheus, pytest.mark.dovecot]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

SHORT = "1s"
# Timeouts of the polls (deadlines, not expectations: the stack is usually
# ready in a few seconds).
STARTUP = 30.0
ARRIVAL = 45.0

# Panels marked delivermonMayBeEmpty in the dashboards that this scenario cannot
# fill: no unexpected error, no check where every list is unknown, no IMAP. Every
# other panel, marked or not, must show data here.
MAY_STAY_EMPTY = {
    ("daemon", "Errors by component"),
    ("daemon", "Checks that could not tell"),
}


# --- servers -----------------------------------------------------------------------------


class Server:
    """A server binary in a subprocess, its output in a log file, stopped with SIGTERM."""

    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log = log.open("ab")
        self._proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def check_alive(self) -> None:
        if self._proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self._proc.returncode}:\n{self.log()}")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


def http(url: str, *, data: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def ready(server: Server, url: str) -> bool:
    server.check_alive()
    try:
        return http(url, timeout=2)[0] == 200
    except OSError:
        return False


def binary(name: str, package: str) -> str:
    found = shutil.which(name)
    require_server(found, f"{name} not installed: apt-get install {package}")
    assert found is not None
    return found


# --- configurations derived from the shipped files ---------------------------------------


def alertmanager_config(hook: str) -> dict[str, Any]:
    """alertmanager.yml with every receiver sending to ``hook``, and 1 s grouping waits."""
    config = yaml.safe_load((ROOT / "alertmanager.yml").read_text(encoding="utf-8"))
    assert config["receivers"], "alertmanager.yml names no receivers"
    config["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": hook, "send_resolved": True}]}
        for r in config["receivers"]
    ]

    def shorten(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = SHORT
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    assert config["route"]["group_wait"] == config["route"]["group_interval"] == SHORT
    return config


def rule_files(directory: Path) -> list[Path]:
    """Copies of the shipped rule files (prometheus.yml's rule_files) with 1 s waits."""
    shipped = yaml.safe_load((ROOT / "prometheus.yml").read_text(encoding="utf-8"))
    sources = sorted({p for pattern in shipped["rule_files"] for p in ROOT.glob(pattern)})
    assert [p.name for p in sources] == ["alerts.yml", "recording.yml"], sources
    directory.mkdir()
    copies = []
    for source in sources:
        rules = yaml.safe_load(source.read_text(encoding="utf-8"))
        for group in rules["groups"]:
            if "interval" in group:
                group["interval"] = SHORT  # recording groups: 1m and 5m
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = SHORT  # alerts: 0m to 30m
        copy = directory / source.name
        copy.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
        copies.append(copy)
    return copies


def prometheus_config(rules: list[Path], daemon: str, alertmanager: str) -> dict[str, Any]:
    """prometheus.yml pointed at the test's daemon and Alertmanager, with 1 s intervals."""
    config = yaml.safe_load((ROOT / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval=SHORT, evaluation_interval=SHORT)
    config["rule_files"] = [str(p) for p in rules]
    (managers,) = config["alerting"]["alertmanagers"]
    (static,) = managers["static_configs"]
    static["targets"] = [alertmanager]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "delivermon"
    (targets,) = job["static_configs"]
    targets["targets"] = [daemon]
    return config


# --- DNS and the daemon -------------------------------------------------------------------


def arf_report(message_id: str) -> bytes:
    """An RFC 5965 complaint about one message of the campaign, carrying the original."""
    now = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    lines = [
        "From: <fbl@mailbox.example>",
        f"Date: {now}",
        "Subject: FW: promo",
        "To: <fbl-reports@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain",
        "",
        "This is an email abuse report.",
        "",
        "--b1",
        "Content-Type: message/feedback-report",
        "",
        "Feedback-Type: abuse",
        "User-Agent: e2e/1.0",
        "Version: 1",
        "Original-Mail-From: <news@example.com>",
        f"Original-Rcpt-To: <arf-{message_id}@example.net>",
        f"Arrival-Date: {now}",
        f"Source-IP: {IP}",
        "",
        "--b1",
        "Content-Type: message/rfc822",
        "",
        "From: <news@example.com>",
        f"To: <arf-{message_id}@example.net>",
        "Subject: Promo",
        f"Message-ID: <{message_id}@example.com>",
        f"X-Campaign-ID: {CAMPAIGN}",
        f"Date: {now}",
        "",
        "Buy now.",
        "--b1--",
        "",
    ]
    return "\r\n".join(lines).encode()


def dmarc_report(report_id: str, org: str, email: str) -> bytes:
    """Mail of example.com seen by one receiver over the last two hours."""
    begin = int(dt.datetime.now(dt.UTC).timestamp()) - 7200
    rows = [
        Row(IP, 100),
        Row(SPF_ONLY_IP, 50),
        Row(FORWARDER_IP, 20, spf="fail", spf_domain="lists.example.net", spf_result="pass"),
        Row(
            UNKNOWN_IP,
            250,
            dkim="fail",
            spf="fail",
            disposition="reject",
            dkim_result="fail",
            spf_result="fail",
        ),
    ]
    return aggregate_xml(rows, report_id=report_id, org=org, email=email, begin=begin)


def post_dmarc(daemon: DaemonProcess, report: bytes) -> dict[str, Any]:
    request = urllib.request.Request(
        daemon.url + "/api/v1/dmarc/reports",
        data=report,
        headers={"Content-Type": "application/xml", "Authorization": f"Bearer {INGEST}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202, response.read()
        answer: dict[str, Any] = json.loads(response.read())
    return answer


GMAIL_BURST = 12  # above [bounces] ratelimit_threshold (10)


def gmail_deferral(n: int) -> str:
    """A Postfix log line (long timestamp, now: the event's time is the line's): Gmail
    defers a message with 421 4.7.28 (rate limited)."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    return (
        f"{stamp} mx postfix/smtp[101]: 4A1B2C{n:02X}: to=<reader{n}@gmail.com>, "
        "relay=gmail-smtp-in.l.google.com[192.0.2.27]:25, delay=1, delays=0/0/0/1, dsn=4.7.28, "
        "status=deferred (host gmail-smtp-in.l.google.com[192.0.2.27] said: 421-4.7.28 Gmail "
        f"has detected an unusual rate of unsolicited mail originating from your IP address {IP}. "
        "- gsmtp (in reply to end of DATA command))"
    )


def spamhaus_dsn() -> bytes:
    """An RFC 3464 DSN: Exchange Online refused the campaign's mail citing Spamhaus for IP."""
    lines = [
        "From: MAILER-DAEMON@example.com (Mail Delivery System)",
        "To: <news@example.com>",
        "Subject: Undelivered Mail Returned to Sender",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b2"',
        "",
        "--b2",
        "Content-Type: text/plain",
        "",
        "Your message could not be delivered.",
        "",
        "--b2",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.com",
        "",
        "Final-Recipient: rfc822; someone@example.org",
        "Action: failed",
        "Status: 5.7.1",
        "Remote-MTA: dns; example-org.mail.protection.outlook.com",
        f"Diagnostic-Code: smtp; 550 5.7.1 Service unavailable, Client host [{IP}] blocked "
        f"using Spamhaus. To request removal from this list see "
        f"https://www.spamhaus.org/query/ip/{IP} (AS3130).",
        "",
        "--b2",
        "Content-Type: text/rfc822-headers",
        "",
        "From: <news@example.com>",
        "To: <someone@example.org>",
        f"X-Campaign-ID: {CAMPAIGN}",
        "",
        "--b2--",
        "",
    ]
    return "\r\n".join(lines).encode()


def post_events(daemon: DaemonProcess, events: list[dict[str, object]]) -> None:
    status, body = daemon.request(
        "POST", "/api/v1/events", token=INGEST, body=json.dumps({"events": events}).encode()
    )
    assert status == 202, body


def post_arf(daemon: DaemonProcess, message_id: str) -> None:
    request = urllib.request.Request(
        daemon.url + "/api/v1/feedback/arf",
        data=arf_report(message_id),
        headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {INGEST}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201, 202), response.read()


# --- the stack ----------------------------------------------------------------------------


@dataclass
class Stack:
    daemon: DaemonProcess
    prometheus: str  # base URL
    alertmanager: str  # base URL
    hook: Receiver  # Alertmanager's notifications
    notify: Receiver  # the daemon's own webhook notifier
    nsd: NsdServer

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http(url)
        answer = json.loads(body)
        assert status == 200, (expr, answer)
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def series(self, match: str) -> list[dict[str, str]]:
        url = f"{self.prometheus}/api/v1/series?" + urllib.parse.urlencode({"match[]": match})
        status, body = http(url)
        assert status == 200, body
        found: list[dict[str, str]] = json.loads(body)["data"]
        return found

    def notifications(self, alertname: str) -> list[tuple[str, dict[str, Any]]]:
        """(shipped receiver name, alert) for every firing ``alertname`` Alertmanager sent."""
        with self.hook._lock:
            bodies = list(self.hook.received)
        return [
            (str(body["receiver"]), alert)
            for body in bodies
            for alert in body.get("alerts", [])  # type: ignore[attr-defined]
            if alert["labels"].get("alertname") == alertname and alert["status"] == "firing"
        ]

    def alertmanager_alerts(self, alertname: str) -> list[dict[str, Any]]:
        url = f"{self.alertmanager}/api/v2/alerts?" + urllib.parse.urlencode(
            {"filter": f'alertname="{alertname}"', "inhibited": "true", "silenced": "true"}
        )
        status, body = http(url)
        assert status == 200, body
        alerts: list[dict[str, Any]] = json.loads(body)
        return alerts


def telemetry_world() -> tuple[Postmaster, Snds]:
    """example.com at 0.35 % yesterday (the recovery clock runs), one compliance row needing
    work, delivery errors; the sending IP yellow with trap hits and blocked, and an IP of
    the SNDS account that is not configured."""
    today = dt.datetime.now(dt.UTC).date()
    day1, day2 = today - dt.timedelta(days=1), today - dt.timedelta(days=2)
    postmaster, snds = Postmaster(), Snds()
    postmaster.stats["example.com"] = {
        (day2, "spam_rate"): 0.0008,
        (day1, "spam_rate"): 0.0035,
        (day1, "auth_dkim"): 0.99,
        (day1, "tls_outbound"): 1.0,
        (day1, "delivery_reject"): 0.002,
    }
    postmaster.compliance["example.com"] = compliance_rows(
        SPF="COMPLIANT", DMARC_ALIGNMENT="NEEDS_WORK"
    )
    snds.data[None] = [
        snds_line(IP, day=day1, result="YELLOW", traps=2),
        snds_line("198.51.100.77", day=day1),
    ]
    snds.ip_status = [f"{IP},{IP},Yes,Blocked due to user complaints or other evidence of spamming"]
    return postmaster, snds


@pytest.fixture(scope="module")
def stack(
    nsd_module_factory: StartNsd,
    tmp_path_factory: pytest.TempPathFactory,
    dovecot_server: DovecotServer,
) -> Iterator[Stack]:
    prometheus_bin = binary("prometheus", "prometheus")
    alertmanager_bin = binary("prometheus-alertmanager", "prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("ops")
    nsd = nsd_module_factory(zones(), broken=[BROKEN_ZONE])
    with contextlib.ExitStack() as cleanup:
        hook = cleanup.enter_context(Receiver())
        notify = cleanup.enter_context(Receiver())

        # Gmail Postmaster Tools and SNDS stand-ins, so the telemetry panels have data.
        postmaster, snds = telemetry_world()
        apps = cleanup.enter_context(ThreadedApps(postmaster.app(), snds.app()))
        postmaster.url = apps.urls[0]
        credentials = tmp / "postmaster.json"
        credentials.write_text(json.dumps(postmaster.service_account_info()))
        config = tmp / "delivermon.toml"
        mail_log = tmp / "mail.log"
        mail_log.write_text("")
        write_config(
            config,
            nsd,
            notify.url,
            mta_log=mail_log,
            extra=f"""
[telemetry.gmail]
credentials = "{credentials}"
api_base = "{apps.urls[0]}"
interval = "5s"

[telemetry.snds]
key = "{SNDS_KEY}"
base_url = "{apps.urls[1]}/snds"
interval = "5s"
""",
        )
        # The DMARC mailbox: a Yahoo report waits in it, the IMAP job routes it by content.
        mailbox = dovecot_server.account("ops-dmarc")
        mailbox.append(report_mail(dmarc_report("yahoo-1", "Yahoo", "dmarchelp@yahooinc.com")))
        config.write_text(
            config.read_text()
            + f"""
[imap]
host = "{mailbox.host}"
port = {mailbox.port}
security = "none"
username = "{mailbox.username}"
password = "{mailbox.password}"
interval = "1s"
"""
        )
        daemon = DaemonProcess(config).start()
        cleanup.callback(daemon.stop)
        # Priming: the campaign's counter series exist before the volume arrives,
        # and a first ARF report creates the one-click audit series.
        post_events(daemon, [{"type": "sent", "campaign": CAMPAIGN, "count": 1}])
        post_arf(daemon, "prime")
        # DMARC: one report over HTTP, one through the CLI into the daemon's store.
        post_dmarc(daemon, dmarc_report("google-1", "google.com", "noreply@google.com"))
        xml = dmarc_report("ms-1", "Outlook.com", "dmarcreport@microsoft.com")
        (tmp / "ms-1.xml").write_bytes(xml)
        ingested = run_cli(
            "ingest", "dmarc", "--config", str(config), "--json", str(tmp / "ms-1.xml")
        )
        assert ingested.returncode == 0, ingested.stdout + ingested.stderr
        assert json.loads(ingested.stdout)[0]["status"] == "stored"
        wait_for(
            lambda: (
                daemon.value("delivermon_one_click_audits_total", campaign=CAMPAIGN) is not None
                and daemon.value("delivermon_delivered_total", campaign=CAMPAIGN) is not None
            ),
            timeout=STARTUP,
            what="the campaign's counters in /metrics",
        )

        am_port = pick_free_port()
        am_config = tmp / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_config(hook.url), sort_keys=False))
        alertmanager = Server(
            "alertmanager",
            [
                alertmanager_bin,
                f"--config.file={am_config}",
                f"--storage.path={tmp / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
        )
        cleanup.callback(alertmanager.stop)
        am_url = f"http://127.0.0.1:{am_port}"
        wait_for(
            lambda: ready(alertmanager, f"{am_url}/-/ready"), timeout=STARTUP, what="Alertmanager"
        )

        prom_port = pick_free_port()
        prom_config = tmp / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                prometheus_config(
                    rule_files(tmp / "rules"), f"127.0.0.1:{daemon.port}", f"127.0.0.1:{am_port}"
                ),
                sort_keys=False,
            )
        )
        prometheus = Server(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp / "prometheus.log",
        )
        cleanup.callback(prometheus.stop)
        stack = Stack(daemon, f"http://127.0.0.1:{prom_port}", am_url, hook, notify, nsd)
        wait_for(
            lambda: ready(prometheus, f"{stack.prometheus}/-/ready"),
            timeout=STARTUP,
            what="Prometheus",
        )

        # The counters at their primed values in Prometheus, then the volume.
        for primed in (
            f'delivermon_delivered_total{{campaign="{CAMPAIGN}",provider="other"}} == 0',
            f'delivermon_complaints_total{{campaign="{CAMPAIGN}",provider="other"}} == 1',
        ):
            wait_for(
                lambda primed=primed: stack.query(primed),  # type: ignore[misc]
                timeout=STARTUP,
                what=f"Prometheus scraping {primed}",
            )
        recipients = [f"reader{n}@example.net" for n in range(12)]
        events: list[dict[str, object]] = [
            {"type": "sent", "campaign": CAMPAIGN, "count": 2000},
            {"type": "delivered", "campaign": CAMPAIGN, "count": 2000},
            {"type": "bounce", "campaign": CAMPAIGN, "count": 5},
        ]
        events += [
            {"type": "complaint", "campaign": CAMPAIGN, "recipient": r, "id": f"c-{n}"}
            for n, r in enumerate(recipients)
        ]
        events += [
            {"type": "unsubscribe", "campaign": CAMPAIGN, "recipient": f"leaver{n}@example.net"}
            for n in range(3)
        ]
        post_events(daemon, events)
        post_arf(daemon, "second")
        # Receivers answer: a burst of Gmail 4.7.28 deferrals in the followed MTA log, and
        # a Microsoft rejection citing Spamhaus for the listed sending IP, as a DSN.
        with mail_log.open("a") as log:
            log.writelines(gmail_deferral(n) + "\n" for n in range(GMAIL_BURST))
        status, body = daemon.request(
            "POST",
            "/api/v1/bounces",
            token=INGEST,
            body=spamhaus_dsn(),
            content_type="message/rfc822",
        )
        assert status == 202, body
        # One refused ingest request (no token) and one reload, for the daemon dashboard.
        assert daemon.request("POST", "/api/v1/events", body=b"{}")[0] == 401
        status, body = daemon.request("POST", "/-/reload", token=ADMIN)
        assert status == 200, body

        yield stack


# --- alerts -------------------------------------------------------------------------------


def test_gmail_rate_limit_burst_raises_its_finding_and_one_notification(stack: Stack) -> None:
    finding = {"code": "bounce.reputation_ratelimit", "provider": "google"}
    wait_for(
        lambda: stack.notifications("DelivermonReputationRateLimited"),
        timeout=ARRIVAL,
        what="DelivermonReputationRateLimited",
    )
    assert stack.daemon.value("delivermon_bounce_finding", **finding) == 1
    # A new (campaign, provider, class) series is shown at 0 for [metrics] new_series_hold
    # (1 s here) before its value, so increase() counts it: read it once that has passed.
    wait_for(
        lambda: (
            stack.daemon.value(
                "delivermon_deferrals_classified_total",
                **{"provider": "google", "class": "reputation_ratelimit"},
            )
            == GMAIL_BURST
        ),
        timeout=ARRIVAL,
        what="the Gmail deferrals counted",
    )
    time.sleep(3)  # a second notification would come within Alertmanager's 1 s group_interval
    sent = stack.notifications("DelivermonReputationRateLimited")
    assert [receiver for receiver, _ in sent] == ["team-email"]  # a warning: one route
    labels = sent[0][1]["labels"]
    assert {k: labels[k] for k in ("code", "provider", "severity")} == {
        **finding,
        "severity": "warning",
    }


def test_spamhaus_citation_raises_its_finding_joined_with_the_sweep(stack: Stack) -> None:
    alerts = at_critical_receivers(stack, "DelivermonReceiverCitesBlocklist")
    time.sleep(3)
    alerts = [a for _, a in stack.notifications("DelivermonReceiverCitesBlocklist")]
    assert len(alerts) == len(CRITICAL_RECEIVERS)  # one notification per critical receiver
    for alert in alerts:
        labels = alert["labels"]
        assert (labels["provider"], labels["blocklist"]) == ("microsoft", "spamhaus")
        assert "sweep" not in labels  # a sweep that changes its mind must not re-fire it
        assert labels["severity"] == "critical"
    # The sweep lists the IP the reply names on zen.spamhaus.org: the finding says so.
    finding = {"code": "bounce.blocklist_cited", "provider": "microsoft", "blocklist": "spamhaus"}
    assert stack.daemon.value("delivermon_bounce_finding", **finding, sweep="listed") == 1
    wait_for(  # past the new series' hold at 0 (as for the Gmail deferrals above)
        lambda: (
            stack.daemon.value(
                "delivermon_bounces_classified_total",
                **{"campaign": CAMPAIGN, "provider": "microsoft", "class": "blocklisted"},
            )
            == 1
        ),
        timeout=ARRIVAL,
        what="the Microsoft bounce counted",
    )


CRITICAL_RECEIVERS = {"oncall-slack", "team-email", "tickets-webhook"}


def at_critical_receivers(stack: Stack, alertname: str) -> list[dict[str, Any]]:
    """Wait until `alertname` has reached the three critical receivers; return what arrived."""
    wait_for(
        lambda: {r for r, _ in stack.notifications(alertname)} == CRITICAL_RECEIVERS,
        timeout=ARRIVAL,
        what=f"{alertname} at the three critical receivers",
    )
    return [alert for _, alert in stack.notifications(alertname)]


def test_critical_listing_alert_arrives_through_the_shipped_routes(stack: Stack) -> None:
    for alert in at_critical_receivers(stack, "DelivermonListedCriticalList"):
        labels = alert["labels"]
        assert labels["target"] == IP
        assert labels["zone"] == LISTING_ZONE
        assert labels["severity"] == "critical"
        assert labels["list_severity"] == "critical"
        assert labels["job"] == "delivermon"
        assert alert["annotations"]["summary"] == (
            f"{IP} is listed on {LISTING_ZONE} (critical list)"
        )
        assert alert["annotations"]["runbook_url"] == (
            "docs/runbooks.md#delivermonlistedcriticallist"
        )


def test_complaint_rate_alert_arrives_with_campaign_and_provider(stack: Stack) -> None:
    for alert in at_critical_receivers(stack, "DelivermonComplaintRateCritical"):
        labels = alert["labels"]
        assert labels["campaign"] == CAMPAIGN
        assert labels["provider"] == "other"
        assert labels["severity"] == "critical"
        assert alert["annotations"]["runbook_url"] == (
            "docs/runbooks.md#delivermoncomplaintratecritical"
        )
    # The recording rule's ratio, from the counters: 13 complaints per 2000 delivered
    # (the primed first samples are not counted), give or take increase()'s extrapolation.
    (ratio,) = stack.query(
        f'campaign_provider:delivermon_complaint_ratio:rate24h{{campaign="{CAMPAIGN}"}}'
    )
    assert 0.003 <= float(ratio["value"][1]) < 0.01


def test_snds_block_and_gmail_spam_rate_arrive_through_the_shipped_routes(stack: Stack) -> None:
    for alert in at_critical_receivers(stack, "DelivermonSndsBlocked"):
        assert alert["labels"]["ip"] == IP
        assert alert["labels"]["severity"] == "critical"
    for alert in at_critical_receivers(stack, "DelivermonGmailSpamRateCritical"):
        assert alert["labels"]["domain"] == "example.com"
    (rate,) = stack.query('delivermon_gmail_spam_rate{domain="example.com"}')
    assert float(rate["value"][1]) == 0.0035


def test_a_warning_takes_the_warning_route(stack: Stack) -> None:
    """The broken zone fails its self-test: a warning, e-mailed only (shipped routes)."""
    wait_for(
        lambda: stack.notifications("DelivermonDnsblZoneUnhealthy"),
        timeout=ARRIVAL,
        what="DelivermonDnsblZoneUnhealthy",
    )
    unhealthy = stack.query("delivermon_dnsbl_zone_family_healthy == 0")
    assert {(s["metric"]["zone"], s["metric"]["family"]) for s in unhealthy} == {
        (BROKEN_ZONE, "ipv4")
    }
    for receiver, alert in stack.notifications("DelivermonDnsblZoneUnhealthy"):
        assert receiver == "team-email"
        assert alert["labels"]["zone"] == BROKEN_ZONE
        assert alert["labels"]["severity"] == "warning"


@pytest.mark.parametrize(
    ("warning", "critical", "labels"),
    [
        (
            "DelivermonListed",
            "DelivermonListedCriticalList",
            {"target": IP, "zone": LISTING_ZONE},
        ),
        (
            "DelivermonComplaintRateWarning",
            "DelivermonComplaintRateCritical",
            {"campaign": CAMPAIGN, "provider": "other"},
        ),
    ],
)
def test_the_warning_twin_is_inhibited_by_the_critical_alert(
    stack: Stack, warning: str, critical: str, labels: dict[str, str]
) -> None:
    def inhibited() -> bool:
        alerts = [
            a
            for a in stack.alertmanager_alerts(warning)
            if all(a["labels"].get(k) == v for k, v in labels.items())
        ]
        return bool(alerts) and all(a["status"]["inhibitedBy"] for a in alerts)

    # Firing in Prometheus and held back by Alertmanager: inhibited, not just late.
    wait_for(inhibited, timeout=ARRIVAL, what=f"{warning} inhibited by {critical}")
    wait_for(lambda: stack.notifications(critical), timeout=ARRIVAL, what=f"{critical} delivered")
    assert stack.notifications(warning) == []


# --- dashboards ---------------------------------------------------------------------------

GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str
    may_be_empty: bool

    def filled(self, variables: dict[str, str]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            assert name in variables, f"{self}: unknown template variable ${name}"
            return variables[name]

        return VARIABLE.sub(value, self.expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries() -> list[Query]:
    queries = []
    for path in DASHBOARDS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for panel in _panels(doc["panels"]):
            for t in panel.get("targets", []):
                queries.append(
                    Query(
                        path.stem,
                        panel["title"],
                        t["refId"],
                        t["expr"],
                        bool(panel.get("delivermonMayBeEmpty")),
                    )
                )
    return queries


def dashboard_variables(dashboard: str) -> dict[str, Any]:
    doc = json.loads((ROOT / "dashboards" / f"{dashboard}.json").read_text(encoding="utf-8"))
    return {v["name"]: v for v in doc["templating"]["list"]}


QUERIES = dashboard_queries()


def test_every_panel_query_is_collected() -> None:
    assert [p.stem for p in DASHBOARDS] == ["campaigns", "daemon", "dmarc", "overview", "telemetry"]
    assert len(QUERIES) > 40
    marked = {(q.dashboard, q.panel) for q in QUERIES if q.may_be_empty}
    assert marked >= MAY_STAY_EMPTY  # the test accepts empty only what the dashboard marks


@pytest.mark.parametrize("dashboard", [p.stem for p in DASHBOARDS])
def test_every_template_variable_has_values(stack: Stack, dashboard: str) -> None:
    """Grafana's label_values(metric, label) for each query variable finds something."""
    wait_for(
        lambda: stack.notifications("DelivermonComplaintRateCritical"),
        timeout=ARRIVAL,
        what="the scenario to be complete",
    )
    for name, var in dashboard_variables(dashboard).items():
        if var["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
        assert match, var
        selector, label = match.groups()
        values = {s[label] for s in stack.series(selector) if label in s}
        assert values, f"${name}: label_values({selector}, {label}) is empty"


@pytest.mark.parametrize(
    "query", QUERIES, ids=[f"{q.dashboard}:{q.panel}:{q.ref}" for q in QUERIES]
)
def test_every_panel_query_returns_data(stack: Stack, query: Query) -> None:
    # The "All" value the dashboards select by default (allValue ".*").
    variables = {
        name: var.get("allValue", ".*")
        for name, var in dashboard_variables(query.dashboard).items()
        if var["type"] == "query"
    }
    expr = query.filled({**variables, **GRAFANA_INTERVALS})
    # The scenario is in once the complaint alert went through; then give each
    # query a deadline for its own data (rate windows, the 1 s rule groups).
    wait_for(
        lambda: stack.notifications("DelivermonComplaintRateCritical"),
        timeout=ARRIVAL,
        what="the scenario to be complete",
    )
    if (query.dashboard, query.panel) in MAY_STAY_EMPTY:
        stack.query(expr)  # valid and answered; empty is allowed (and marked)
        return
    wait_for(lambda: stack.query(expr), timeout=20, what=f"data for {expr}")


# --- DMARC --------------------------------------------------------------------------------


def dmarc_sources(stack: Stack) -> dict[str, tuple[str, bool, int]]:
    status, body = stack.daemon.request("GET", "/api/v1/dmarc/domains/example.com", token=ADMIN)
    assert status == 200, body
    summary = json.loads(body)
    return {
        s["ip"]: (s["classification"], s["classified"], s["messages"]) for s in summary["sources"]
    }


def test_dmarc_sources_are_classified_with_spf_served_by_nsd(stack: Stack) -> None:
    expected = {
        IP: ("own", True, 300),  # a configured sending IP
        SPF_ONLY_IP: ("own", True, 150),  # passed by the SPF record in NSD
        FORWARDER_IP: ("forwarder", True, 60),  # aligned DKIM, SPF fail
        UNKNOWN_IP: ("unknown", True, 750),
    }
    wait_for(lambda: dmarc_sources(stack) == expected, timeout=ARRIVAL, what="classified sources")
    status, body = stack.daemon.request(
        "GET", "/api/v1/dmarc/domains/example.com/sources?classification=unknown", token=INGEST
    )
    assert status == 200, body
    (unknown,) = json.loads(body)["sources"]
    assert (unknown["ip"], unknown["ptr"]) == (UNKNOWN_IP, "relay.example.org")  # FCrDNS


def test_dmarc_metrics_are_in_the_scrape(stack: Stack) -> None:
    labels = {"domain": "example.com", "dmarc": "fail", "disposition": "reject"}
    wait_for(
        lambda: (
            stack.daemon.value(
                "delivermon_dmarc_messages_total", classification="unknown", **labels
            )
            == 750
        ),
        timeout=ARRIVAL,
        what="the unknown sender's messages in /metrics",
    )
    own = {"domain": "example.com", "classification": "own", "dmarc": "pass", "disposition": "none"}
    # A new series is shown at 0 for new_series_hold (3 s) first: each is waited for.
    wait_for(
        lambda: stack.daemon.value("delivermon_dmarc_messages_total", **own) == 450,
        what="the own messages in /metrics",
    )
    for reporter in ("google", "microsoft", "yahoo"):  # yahoo's came over IMAP
        wait_for(
            lambda r=reporter: (
                stack.daemon.value("delivermon_dmarc_reports_total", reporter=r) == 1
            ),
            what=f"{reporter}'s report in /metrics",
        )
    assert stack.daemon.value("delivermon_dmarc_sources", classification="unknown") == 1
    ready = stack.daemon.value("delivermon_dmarc_policy_readiness", verdict="ready")
    assert ready == 1  # 450 own messages, all passing: over the 100-message minimum


def alert_notifications(stack: Stack, alertname: str, status: str) -> list[tuple[str, str]]:
    """(receiver, alert fingerprint) of each ``status`` notification of ``alertname``."""
    with stack.hook._lock:
        bodies = list(stack.hook.received)
    return [
        (str(body["receiver"]), str(alert["fingerprint"]))
        for body in bodies
        for alert in body.get("alerts", [])  # type: ignore[attr-defined]
        if alert["labels"].get("alertname") == alertname and alert["status"] == status
    ]


def test_unknown_sender_alert_fires_once_then_resolves_when_spf_authorises_it(
    stack: Stack,
) -> None:
    name = "DelivermonDmarcUnknownSources"
    wait_for(lambda: alert_notifications(stack, name, "firing"), timeout=ARRIVAL, what=name)
    (firing,) = stack.notifications(name)
    receiver, alert = firing
    assert receiver == "team-email"  # a warning: the shipped warning route
    assert alert["labels"]["domain"] == "example.com"
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#delivermondmarcunknownsources"
    # The operator recognises the sender and authorises it in SPF: reclassified own.
    for origin, records in zones(UNKNOWN_IP).items():
        if origin == "example.com":
            stack.nsd.add_zone(origin, records)
    stack.nsd.reload()
    wait_for(
        lambda: dmarc_sources(stack)[UNKNOWN_IP][0] == "own",
        timeout=ARRIVAL,
        what="the authorised sender reclassified own",
    )
    wait_for(
        lambda: alert_notifications(stack, name, "resolved"),
        timeout=ARRIVAL,
        what=f"{name} resolved",
    )
    fired = alert_notifications(stack, name, "firing")
    assert len(fired) == 1, fired  # one firing notification, one alert
    assert alert_notifications(stack, name, "resolved") == [("team-email", fired[0][1])]
