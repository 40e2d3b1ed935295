"""The daemon end to end: a ``delivermon run`` process against a real NSD, a local webhook
receiver and a SQLite store; listings, delistings, restarts, reloads and readiness.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
from email.utils import format_datetime
from pathlib import Path

import pytest
from daemon import DaemonProcess, fast_config, wait_for
from dnsserver import NsdServer, StartNsd
from dovecot import DovecotAccount
from receiver import Receiver

pytestmark = pytest.mark.nsd

ZONE = "bl.e2e.test"
IP = "192.0.2.10"
TEST_POINTS = ["2.0.0.127 IN A 127.0.0.2"]
LISTED = [*TEST_POINTS, "10.2.0.192 IN A 127.0.0.2", '10.2.0.192 IN TXT "spam seen"']
ADMIN = "admin-token-for-tests"


def write_config(path: Path, nameserver: str, receiver: Receiver, *, zones: list[str]) -> None:
    path.write_text(
        fast_config(
            nameserver=nameserver,
            zones=zones,
            store_url=f"sqlite:///{path.parent / 'delivermon.db'}",
            notify_url=receiver.url,
            extra=f"""
[http]
admin_token = "{ADMIN}"

[[domains]]
name = "example.com"
sending_ips = ["{IP}"]
""",
        )
    )


# example.com and its IP pass every DNS check the risk score reads (SPF for the IP,
# DMARC p=reject, FCrDNS), so the listing alone moves the IP's risk. With SPF failing
# (20 points, at the alert's threshold), whether example.com's own risk alert was a
# silent pre-existing state or news depended on its first auth run answering in time.
HEALTHY = {
    "example.com": [
        f'@ IN TXT "v=spf1 ip4:{IP} -all"',
        '_dmarc IN TXT "v=DMARC1; p=reject"',
        f"mail IN A {IP}",
    ],
    "com": [],  # the DMARC tree walk asks _dmarc.com
    "2.0.192.in-addr.arpa": ["10 IN PTR mail.example.com."],
}


@pytest.fixture
def nsd(nsd_factory: StartNsd) -> NsdServer:
    return nsd_factory({ZONE: TEST_POINTS, **HEALTHY})


def sweeps(daemon: DaemonProcess) -> float:
    return daemon.value("delivermon_job_runs_total", task="sweep", outcome="success") or 0


def wait_sweeps(daemon: DaemonProcess, more: int) -> None:
    start = sweeps(daemon)
    wait_for(lambda: sweeps(daemon) >= start + more, what=f"{more} more sweeps")


def sent(daemon: DaemonProcess) -> float | None:
    return daemon.value("delivermon_notifications_total", notifier="webhook", status="sent")


def listed_value(daemon: DaemonProcess) -> float | None:
    return daemon.value("delivermon_dnsbl_listed", target=IP, zone=ZONE)


def test_listing_is_announced_once_resolved_once_and_never_again_after_restart(
    tmp_path: Path, nsd: NsdServer, receiver: Receiver
) -> None:
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=[ZONE])
    with DaemonProcess(config) as daemon:
        wait_for(lambda: listed_value(daemon) == 0, what="a clean first sweep in /metrics")
        # Ready once that sweep has completed (its results are in the view slightly before).
        wait_for(lambda: daemon.get("/readyz")[0] == 200, what="readiness")
        assert daemon.value("delivermon_dnsbl_zone_healthy", zone=ZONE) == 1
        assert daemon.value("delivermon_check_success", check="dnsbl", target=IP) == 1

        nsd.add_zone(ZONE, LISTED)
        nsd.reload()
        firing = wait_for(
            lambda: receiver.matching(kind="listed", status="firing"),
            what="the listing notification",
        )
        assert firing[0]["key"] == f"listed:{IP}:{ZONE}"
        assert firing[0]["labels"] == {"target": IP, "zone": ZONE, "severity": "major"}
        assert listed_value(daemon) == 1
        # a listing is not a readiness problem (waited for: with a 1 s interval, a
        # sweep a moment late is briefly "older than two intervals")
        wait_for(lambda: daemon.get("/readyz")[0] == 200, what="readiness while listed")
        doc = daemon.json(f"/api/v1/targets/{IP}")
        assert isinstance(doc, dict)
        assert doc["dnsbl"][0]["verdict"] == "listed"
        assert doc["dnsbl"][0]["reason"] == "spam seen"
        status, body = daemon.get("/api/v1/targets/198.51.100.7")
        assert status == 404
        assert json.loads(body) == {"error": "not a configured target"}
        # The listing raises the IP's risk level, announced from the next `campaigns` run
        # (every second): waited for before delisting, or a loaded machine can delist first.
        wait_for(
            lambda: receiver.matching(kind="risk_level", status="firing"),
            what="the risk-level notification",
        )

        nsd.add_zone(ZONE, TEST_POINTS)
        nsd.reload()
        wait_for(
            lambda: receiver.matching(kind="listed", status="resolved"),
            what="the delisting notification",
        )
        wait_sweeps(daemon, 3)
        assert len(receiver.matching(kind="listed")) == 2
        # The listing raised the IP's risk level too, which is announced as well.
        kinds = [m["kind"] for m in receiver.received]
        assert set(kinds) <= {"listed", "risk_level"}, receiver.received
        assert len(receiver.matching(kind="risk_level", status="firing")) == 1
        wait_for(lambda: sent(daemon) == len(receiver.received), what="every notification counted")

    # A restart: state comes back from the store; nothing is re-sent.
    with DaemonProcess(config) as again:
        assert listed_value(again) == 0  # loaded from the store before the first sweep
        wait_sweeps(again, 3)
        assert len(receiver.matching(kind="listed")) == 2


def test_a_listing_present_at_the_first_check_is_recorded_not_announced(
    tmp_path: Path, nsd_factory: StartNsd, receiver: Receiver
) -> None:
    nsd = nsd_factory({ZONE: LISTED})
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=[ZONE])
    with DaemonProcess(config) as daemon:
        wait_for(lambda: listed_value(daemon) == 1, what="the listing in /metrics")
        wait_sweeps(daemon, 3)
        assert receiver.matching(kind="listed") == []


def test_a_listing_first_told_after_the_list_could_not_tell_is_announced(
    tmp_path: Path, nsd_factory: StartNsd, receiver: Receiver
) -> None:
    # The list is not served at first: its self-test fails and every verdict on it is
    # unknown. Minutes of watching later it answers, with the IP listed: that is news,
    # not a state present at the first check.
    nsd = nsd_factory({"example.com": ['@ IN TXT "v=spf1 -all"']})
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=[ZONE])
    with DaemonProcess(config) as daemon:
        wait_for(
            lambda: daemon.value("delivermon_dnsbl_zone_healthy", zone=ZONE) == 0,
            what="the list's failed self-test",
        )
        wait_sweeps(daemon, 2)
        assert listed_value(daemon) is None  # unknown: no verdict
        nsd.add_zone(ZONE, LISTED)
        nsd.reload()
        firing = wait_for(
            lambda: receiver.matching(kind="listed", status="firing"),
            what="the listing notification",
        )
        assert firing[0]["key"] == f"listed:{IP}:{ZONE}"
        assert listed_value(daemon) == 1


def test_a_list_refusing_our_resolver_at_its_test_points_is_resolver_refused(
    tmp_path: Path, nsd_factory: StartNsd, receiver: Receiver
) -> None:
    # What Spamhaus answers a public resolver, for every name: 127.255.255.254.
    nsd = nsd_factory({"zen.spamhaus.org": ["* IN A 127.255.255.254"]})
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=["zen.spamhaus.org"])
    with DaemonProcess(config) as daemon:
        wait_for(
            lambda: daemon.value("delivermon_dnsbl_zone_healthy", zone="zen.spamhaus.org") == 0,
            what="the failed self-test",
        )
        wait_sweeps(daemon, 1)
        assert daemon.value("delivermon_dnsbl_resolver_refused", zone="zen.spamhaus.org") == 1
        assert daemon.value("delivermon_dnsbl_listed", target=IP, zone="zen.spamhaus.org") is None


def test_reload_swaps_a_valid_config_and_keeps_the_old_one_when_broken(
    tmp_path: Path, nsd_factory: StartNsd, receiver: Receiver
) -> None:
    nsd = nsd_factory({ZONE: TEST_POINTS, "bl2.e2e.test": TEST_POINTS})
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=[ZONE])
    with DaemonProcess(config) as daemon:
        wait_for(lambda: listed_value(daemon) == 0, what="a first sweep")
        write_config(config, nsd.address, receiver, zones=[ZONE, "bl2.e2e.test"])
        daemon.signal(signal.SIGHUP)
        wait_for(
            lambda: daemon.value("delivermon_dnsbl_listed", target=IP, zone="bl2.e2e.test") == 0,
            what="the zone added by SIGHUP",
        )
        assert daemon.value("delivermon_config_last_reload_successful") == 1

        config.write_text(config.read_text() + "\n[dnsbl]\nbroken = true\n")
        status, body = daemon.request("POST", "/-/reload", token=ADMIN)
        assert status == 400
        answer = json.loads(body)
        assert answer["reloaded"] is False
        assert answer["problems"]
        assert daemon.value("delivermon_config_last_reload_successful") == 0
        wait_sweeps(daemon, 2)  # still running the previous config
        assert daemon.value("delivermon_dnsbl_listed", target=IP, zone="bl2.e2e.test") == 0
        assert daemon.request("POST", "/-/reload")[0] == 401

        # An empty file (one caught half-written) is refused too, not read as "defaults":
        # the zones, the targets and the admin token stay.
        write_config(config, nsd.address, receiver, zones=[ZONE, "bl2.e2e.test"])
        assert daemon.request("POST", "/-/reload", token=ADMIN)[0] == 200
        config.write_text("")
        daemon.signal(signal.SIGHUP)
        wait_for(
            lambda: daemon.value("delivermon_config_last_reload_successful") == 0,
            what="the refused reload of an empty file",
        )
        status, body = daemon.request("POST", "/-/reload", token=ADMIN)
        assert status == 400, body  # the admin token is still the running config's
        assert "sets nothing" in json.loads(body)["problems"][0]
        wait_sweeps(daemon, 2)
        assert daemon.value("delivermon_dnsbl_listed", target=IP, zone="bl2.e2e.test") == 0
        assert daemon.stop() == 0


def test_nameserver_option_replaces_the_configs_resolvers_and_outlives_a_reload(
    tmp_path: Path, nsd_factory: StartNsd, receiver: Receiver
) -> None:
    # The config's resolver is a dead port: only the one given with --nameserver can
    # answer. `run` used to accept the option and ignore it.
    nsd = nsd_factory({ZONE: TEST_POINTS, "bl2.e2e.test": TEST_POINTS})
    config = tmp_path / "delivermon.toml"
    dead = "127.0.0.1:9"  # discard: nothing answers DNS there
    write_config(config, dead, receiver, zones=[ZONE])
    with DaemonProcess(config, extra_args=("--nameserver", nsd.address)) as daemon:
        wait_for(lambda: listed_value(daemon) == 0, what="a clean sweep through NSD")
        write_config(config, dead, receiver, zones=[ZONE, "bl2.e2e.test"])
        daemon.signal(signal.SIGHUP)
        wait_for(
            lambda: daemon.value("delivermon_dnsbl_listed", target=IP, zone="bl2.e2e.test") == 0,
            what="the zone added by SIGHUP, checked through NSD",
        )


def test_readyz_says_which_component_fails(
    tmp_path: Path, nsd_factory: StartNsd, receiver: Receiver
) -> None:
    nsd = nsd_factory({ZONE: TEST_POINTS})
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=[ZONE])
    with DaemonProcess(config) as daemon:
        wait_for(lambda: daemon.get("/readyz")[0] == 200, what="readiness")
        nsd.stop()  # the resolver stops answering: self-tests fail, results are unknown
        wait_for(lambda: daemon.get("/readyz")[0] == 503, what="not ready")
        body = json.loads(daemon.get("/readyz")[1])
        assert body["components"]["resolver"]["ok"] is False
        assert body["components"]["store"]["ok"] is True
        wait_for(
            lambda: daemon.value("delivermon_dnsbl_unknown", target=IP, zone=ZONE) == 1,
            what="unknown in /metrics",
        )
        assert listed_value(daemon) is None  # unknown is never reported as not listed


def test_complaints_above_the_critical_line_alert_and_raise_the_risk(
    tmp_path: Path, nsd: NsdServer, receiver: Receiver
) -> None:
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=[ZONE])
    config.write_text(
        config.read_text().replace("[http]\n", '[http]\ningest_token = "ingest-token-for-tests"\n')
        + '\n[[campaigns]]\nid = "promo-7"\ncategory = "commercial"\n'
        'consent = "single_opt_in"\nsending_domain = "example.com"\n'
    )
    recipients = [f"reader{n}@example.net" for n in range(12)]
    events = [{"type": "sent", "campaign": "promo-7", "count": 2000}]
    events += [{"type": "delivered", "campaign": "promo-7", "count": 2000}]
    events += [
        {"type": "complaint", "campaign": "promo-7", "recipient": r, "id": f"c-{n}"}
        for n, r in enumerate(recipients)
    ]
    with DaemonProcess(config) as daemon:
        status, body = daemon.request(
            "POST",
            "/api/v1/events",
            token="ingest-token-for-tests",
            body=json.dumps({"events": events}).encode(),
        )
        assert status == 202, body
        alert = wait_for(
            lambda: receiver.matching(kind="complaint_rate", status="firing"),
            what="the complaint-rate notification",
        )
        assert alert[0]["severity"] == "critical"  # 12 / 2000 = 0.6 % > 0.3 %
        assert alert[0]["labels"] == {"campaign": "promo-7", "window": "24h"}
        ratio = daemon.value("delivermon_complaint_ratio", campaign="promo-7", window="24h")
        assert ratio == pytest.approx(12 / 2000)
        # A campaign new since start is shown at 0 for [metrics] new_series_hold (1 s) first.
        wait_for(
            lambda: daemon.value("delivermon_complaints_total", campaign="promo-7") == 12,
            what="the complaints counter",
        )
        assert daemon.value("delivermon_ingest_accepted_total", source="events") == 1
        # the domain's risk rises with the complaints, with no listing at all
        wait_for(
            lambda: (
                (
                    daemon.value(
                        "delivermon_blacklist_risk_factor",
                        target="example.com",
                        factor="complaint_rate",
                    )
                    or 0
                )
                > 0
            ),
            what="the complaint factor of the risk score",
        )
        level = [
            labels["level"]
            for labels, value in daemon.samples("delivermon_blacklist_risk_level")
            if labels["target"] == "example.com" and value == 1
        ]
        assert level in (["high"], ["critical"])
        status, _ = daemon.get(f"/api/v1/suppressions/{recipients[0]}", token=ADMIN)
        assert status == 200
        assert daemon.request("POST", "/api/v1/events", body=b"{}")[0] == 401
        assert (
            daemon.value("delivermon_ingest_refused_total", source="events", reason="unauthorized")
            == 1
        )
    # No address in the daemon's log, its metrics or its database.
    log = daemon.log()
    database = (tmp_path / "delivermon.db").read_bytes()
    for address in recipients:
        assert address not in log
        assert address.encode() not in database


# The dates are filled in at run time: a complaint dated outside [metrics] campaign_window
# (7 days) is counted under campaign="_other", so fixed dates would age out of this test.
ARF_TEMPLATE = """\
From: feedback@fbl.example.net\r
To: fbl@example.com\r
Subject: FW: newsletter\r
Date: {date}\r
Message-ID: <report-1@fbl.example.net>\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=feedback-report; boundary="b1"\r
\r
--b1\r
Content-Type: text/plain\r
\r
This is an abuse report.\r
--b1\r
Content-Type: message/feedback-report\r
\r
Feedback-Type: abuse\r
User-Agent: ExampleFBL/1.0\r
Version: 1\r
Source-IP: 192.0.2.10\r
Original-Rcpt-To: <complainer@example.net>\r
Arrival-Date: {arrival}\r
\r
--b1\r
Content-Type: message/rfc822\r
\r
From: news@example.com\r
To: complainer@example.net\r
Subject: newsletter\r
X-Campaign-ID: promo-imap\r
Message-ID: <m1@example.com>\r
\r
Hello.\r
--b1--\r
"""
NOT_ARF = b"From: someone@example.net\r\nTo: fbl@example.com\r\nSubject: hi\r\n\r\nJust mail.\r\n"


@pytest.mark.dovecot
def test_the_imap_job_ingests_the_feedback_mailbox(
    tmp_path: Path, nsd: NsdServer, receiver: Receiver, dovecot: DovecotAccount
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    arf_report = ARF_TEMPLATE.format(
        date=format_datetime(now - dt.timedelta(minutes=5)),
        arrival=format_datetime(now - dt.timedelta(hours=1)),
    ).encode()
    dovecot.append(arf_report)
    dovecot.append(NOT_ARF)
    dovecot.append(b"Subject: big\r\n\r\n" + b"x" * (10 * 1024 * 1024 + 1))  # over the cap
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd.address, receiver, zones=[ZONE])
    config.write_text(
        config.read_text()
        + f"""
[imap]
host = "{dovecot.host}"
port = {dovecot.port}
security = "none"
username = "{dovecot.username}"
password = "{dovecot.password}"
interval = "1s"
"""
    )
    with DaemonProcess(config) as daemon:
        wait_for(
            lambda: daemon.value("delivermon_ingest_accepted_total", source="imap") == 1,
            what="the report ingested from IMAP",
        )
        wait_for(
            lambda: (
                daemon.value(
                    "delivermon_ingest_refused_total", source="imap", reason="unprocessable"
                )
                == 1
            ),
            what="the plain message refused",
        )
        wait_for(
            lambda: (
                daemon.value("delivermon_ingest_refused_total", source="imap", reason="too_large")
                == 1
            ),
            what="the message over 10 MiB refused as too large",
        )
        wait_for(
            lambda: daemon.value("delivermon_complaints_total", campaign="promo-imap") == 1,
            what="the complaint counted for its campaign",
        )
    assert dovecot.messages() == []
    assert len(dovecot.messages("delivermon/processed")) == 1
    assert len(dovecot.messages("delivermon/refused")) == 2
    assert "complainer@example.net" not in daemon.log()
