"""Receiver telemetry end to end: ``delivermon run`` imports from local Gmail Postmaster Tools
v2 and SNDS servers (tests/telemetryservers.py), the metrics appear in a scrape, a Gmail spam
rate crossing 0.3 % fires one critical notification and raises the domain's risk level, an
SNDS blocked IP fires one critical notification, an unconfigured IP of the SNDS account
turning RED fires one summary notification (none of its own), and an outage yields
``unavailable``: no 0 % rate, no resolved alert. ``GET /api/v1/telemetry`` shows the same
view as the metrics.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from daemon import DaemonProcess, fast_config, wait_for
from receiver import Receiver
from telemetryservers import SNDS_KEY, Postmaster, Snds, ThreadedApps, compliance_rows, snds_line

DOMAIN = "example.com"
IP = "192.0.2.10"
OTHER_IP = "192.0.2.99"  # in the SNDS account, not configured
TOKEN = "telemetry-e2e-ingest-token"


def config_text(tmp_path: Path, nameserver: str, receiver: Receiver, pm: str, snds: str) -> str:
    return fast_config(
        nameserver=nameserver,
        zones=[],
        store_url=f"sqlite:///{tmp_path / 'delivermon.db'}",
        notify_url=receiver.url,
        extra=f"""
[http]
ingest_token = "{TOKEN}"

[[domains]]
name = "{DOMAIN}"
sending_ips = ["{IP}"]

[telemetry.gmail]
credentials = "{tmp_path / "postmaster.json"}"
api_base = "{pm}"
interval = "2s"

[telemetry.snds]
key = "env:E2E_SNDS_KEY"
base_url = "{snds}/snds"
interval = "2s"
""",
    )


def firing(receiver: Receiver, kind: str) -> list[dict[str, object]]:
    return receiver.matching(kind=kind, status="firing")


def test_imports_metrics_alerts_risk_and_an_outage(
    tmp_path: Path, closed_udp_port: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    day = [today - dt.timedelta(days=n) for n in range(4)]  # day[1] is yesterday
    pm, snds = Postmaster(), Snds()
    pm.stats[DOMAIN] = {
        (day[3], "spam_rate"): 0.0005,
        (day[2], "spam_rate"): 0.0008,
        (day[2], "auth_dkim"): 0.98,
    }
    pm.compliance[DOMAIN] = compliance_rows(SPF="COMPLIANT", DKIM="COMPLIANT")
    snds.data[None] = [snds_line(IP, day=day[2]), snds_line(OTHER_IP, day=day[2], result="YELLOW")]
    with ThreadedApps(pm.app(), snds.app()) as apps:
        pm.url, snds.url = apps.urls[0], apps.urls[1] + "/snds"
        (tmp_path / "postmaster.json").write_text(json.dumps(pm.service_account_info()))
        config = tmp_path / "delivermon.toml"
        config.write_text(
            config_text(tmp_path, closed_udp_port, receiver, apps.urls[0], apps.urls[1])
        )
        monkeypatch.setenv("E2E_SNDS_KEY", SNDS_KEY)
        with DaemonProcess(config) as daemon:
            # 1. the first imports, in a scrape
            wait_for(
                lambda: daemon.value("delivermon_gmail_spam_rate", domain=DOMAIN) == 0.0008,
                what="the Gmail spam rate in /metrics",
            )
            assert daemon.value("delivermon_gmail_telemetry_state", domain=DOMAIN, state="ok") == 1
            assert daemon.value("delivermon_gmail_stat", domain=DOMAIN, metric="auth_dkim") == 0.98
            assert (
                daemon.value("delivermon_gmail_compliance", domain=DOMAIN, requirement="spf") == 1
            )
            wait_for(
                lambda: daemon.value("delivermon_snds_blocked", ip=IP) == 0,
                what="the SNDS import in /metrics",
            )
            assert daemon.value("delivermon_snds_filter_result", ip=IP, result="green") == 1
            # An IP the config does not name is counted, never a label.
            assert (
                daemon.value("delivermon_snds_filter_result", ip=OTHER_IP, result="yellow") is None
            )
            assert daemon.value("delivermon_snds_ip_configured", ip=OTHER_IP) is None
            assert daemon.value("delivermon_snds_ip_configured", ip=IP) == 1
            assert daemon.value("delivermon_snds_unconfigured_ips", result="yellow") == 1
            assert daemon.value("delivermon_snds_unconfigured_ips", result="green") == 0
            assert daemon.value("delivermon_snds_trap_hits", ip=IP) == 0
            assert daemon.value("delivermon_telemetry_up", source="gmail") == 1
            assert all(authed for _m, _p, authed in pm.requests)
            assert pm.token_grants[0] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            risk_before = daemon.value("delivermon_blacklist_risk_score", target=DOMAIN)

            # 1b. an IP of the account that no sending_ips lists turns RED: one summary
            # alert (an account may hold a whole network), never one of its own
            snds.data[None] = [
                snds_line(IP, day=day[2]),
                snds_line(OTHER_IP, day=day[1], result="RED", traps=2),
            ]
            others = wait_for(
                lambda: firing(receiver, "snds_unconfigured"), what="the unconfigured-IP alert"
            )
            assert (others[0]["severity"], others[0]["labels"]) == ("critical", {})
            assert str(others[0]["text"]).startswith(f"{OTHER_IP} (RED, 2 trap hits).")
            assert daemon.value("delivermon_snds_unconfigured_ips", result="red") == 1

            # 2. Gmail publishes a day at 0.4 %: one critical notification, risk level high
            pm.stats[DOMAIN][(day[1], "spam_rate")] = 0.004
            alert = wait_for(lambda: firing(receiver, "gmail_spam_rate"), what="the Gmail alert")
            assert alert[0]["severity"] == "critical"
            assert alert[0]["labels"] == {"domain": DOMAIN}
            assert daemon.value("delivermon_gmail_spam_rate", domain=DOMAIN) == 0.004
            wait_for(
                lambda: (
                    daemon.value("delivermon_blacklist_risk_level", target=DOMAIN, level="high")
                    == 1
                ),
                what="the domain's risk level high",
            )
            assert (daemon.value("delivermon_blacklist_risk_score", target=DOMAIN) or 0) > (
                risk_before or 0
            )
            recovery = dt.datetime.combine(day[1] + dt.timedelta(days=7), dt.time(), dt.UTC)
            assert (
                daemon.value("delivermon_gmail_recovery_timestamp_seconds", domain=DOMAIN)
                == recovery.timestamp()
            )

            # 3. SNDS blocks the IP's range: one critical notification
            snds.ip_status = [
                "192.0.2.0,192.0.2.31,Yes,"
                "Blocked due to user complaints or other evidence of spamming"
            ]
            blocked = wait_for(
                lambda: firing(receiver, "snds_blocked"), what="the SNDS block alert"
            )
            assert blocked[0]["severity"] == "critical"
            assert blocked[0]["labels"] == {"ip": IP}
            assert daemon.value("delivermon_snds_blocked", ip=IP) == 1

            # 4. both services go down: unavailable, the rates stand, nothing resolves
            pm.outage = snds.outage = True
            wait_for(
                lambda: (
                    daemon.value(
                        "delivermon_gmail_telemetry_state", domain=DOMAIN, state="unavailable"
                    )
                    == 1
                ),
                what="the Gmail state unavailable",
            )
            wait_for(
                lambda: daemon.value("delivermon_telemetry_up", source="snds") == 0,
                what="SNDS down",
            )
            failures = "delivermon_telemetry_import_failures_total"
            wait_for(
                lambda: (daemon.value(failures, source="gmail", state="unavailable") or 0) >= 2,
                what="a second failed Gmail import",
            )
            assert daemon.value("delivermon_gmail_spam_rate", domain=DOMAIN) == 0.004
            assert daemon.value("delivermon_snds_blocked", ip=IP) == 1
            assert daemon.value("delivermon_gmail_telemetry_state", domain=DOMAIN, state="ok") == 0
            assert len(firing(receiver, "gmail_spam_rate")) == 1
            assert len(firing(receiver, "snds_blocked")) == 1
            assert len(firing(receiver, "snds_unconfigured")) == 1
            assert receiver.matching(status="resolved") == []
            assert [n for n in receiver.matching() if n.get("labels") == {"ip": OTHER_IP}] == []
            assert SNDS_KEY not in daemon.log()

            # 5. the JSON API shows the same view, to either token only
            assert daemon.request("GET", "/api/v1/telemetry")[0] == 401
            status, body = daemon.request("GET", "/api/v1/telemetry", token=TOKEN)
            assert status == 200
            document = json.loads(body)
            assert document["version"] == 1
            assert document["sources"]["gmail"]["up"] is False
            assert document["sources"]["snds"]["up"] is False
            gmail = document["gmail"][DOMAIN]
            assert (gmail["state"], gmail["spam_rate"]) == ("unavailable", 0.004)
            assert gmail["recovery_date"] == (day[1] + dt.timedelta(days=7)).isoformat()
            assert {"gmail.spam_rate_high", "gmail.unavailable"} <= {
                f["code"] for f in gmail["findings"]
            }
            assert document["snds"][IP]["blocked"] is True
            assert document["snds"][OTHER_IP]["configured"] is False
            assert SNDS_KEY not in body.decode()


def test_a_per_ip_alert_of_an_unconfigured_ip_hands_over_to_the_summary(
    tmp_path: Path, closed_udp_port: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store with an announced per-IP SNDS alert for an IP no sending_ips lists (what the
    daemon did before the summary alert, or an IP since removed from the config): at
    start it resolves, saying why, and the summary alert that carries the IP on is
    announced at the first import, not taken for a state that was there before."""
    import asyncio

    from monitor.model.alerts import AlertKind, AlertPolicy, Observation, Severity, step
    from monitor.store import open_store

    async def seed() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'delivermon.db'}")
        try:
            labels = {"ip": OTHER_IP}
            key, kind = f"snds_filter:{OTHER_IP}", AlertKind.SNDS_FILTER
            now = dt.datetime.now(dt.UTC)
            base = step(None, Observation(key, kind, False, labels=labels), now, AlertPolicy())
            red = Observation(key, kind, True, Severity.CRITICAL, labels, "RED")
            fired = step(base.record, red, now, AlertPolicy())
            assert fired.record is not None
            assert fired.record.notified
            await store.save_alerts([fired.record], [], now=now)
        finally:
            await store.close()

    asyncio.run(seed())
    today = dt.datetime.now(dt.UTC).date()
    pm, snds = Postmaster(), Snds()
    snds.data[None] = [
        snds_line(IP, day=today - dt.timedelta(days=2)),
        snds_line(OTHER_IP, day=today - dt.timedelta(days=2), result="RED"),
    ]
    with ThreadedApps(pm.app(), snds.app()) as apps:
        pm.url, snds.url = apps.urls[0], apps.urls[1] + "/snds"
        (tmp_path / "postmaster.json").write_text(json.dumps(pm.service_account_info()))
        config = tmp_path / "delivermon.toml"
        config.write_text(
            config_text(tmp_path, closed_udp_port, receiver, apps.urls[0], apps.urls[1])
        )
        monkeypatch.setenv("E2E_SNDS_KEY", SNDS_KEY)
        with DaemonProcess(config):
            summary = wait_for(
                lambda: firing(receiver, "snds_unconfigured"), what="the summary alert"
            )
            assert summary[0]["severity"] == "critical"
            assert str(summary[0]["text"]).startswith(f"{OTHER_IP} (RED)")
            resolved = receiver.matching(kind="snds_filter", status="resolved")
            assert [n["labels"] for n in resolved] == [{"ip": OTHER_IP}]
            assert "in no sending_ips" in str(resolved[0]["title"])
            assert firing(receiver, "snds_filter") == []


def test_an_ip_removed_from_sending_ips_is_in_the_summary_at_the_reload(
    tmp_path: Path, closed_udp_port: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing an IP from sending_ips resolved its announced per-IP alert at the reload,
    titled "counted in the snds_unconfigured alert", while that alert came only with the
    next import, up to a day later (a verification review): it comes at the reload. Both
    telemetry jobs run once an hour here (the first at start; either one's run applies
    the whole view), so nothing after the start's imports comes from an import;
    notify_existing announces the start's YELLOW."""
    import signal

    today = dt.datetime.now(dt.UTC).date()
    pm, snds = Postmaster(), Snds()
    snds.data[None] = [
        snds_line(IP, day=today - dt.timedelta(days=2)),
        snds_line(OTHER_IP, day=today - dt.timedelta(days=2), result="YELLOW"),
    ]
    with ThreadedApps(pm.app(), snds.app()) as apps:
        pm.url, snds.url = apps.urls[0], apps.urls[1] + "/snds"
        (tmp_path / "postmaster.json").write_text(json.dumps(pm.service_account_info()))
        config = tmp_path / "delivermon.toml"
        text = config_text(tmp_path, closed_udp_port, receiver, apps.urls[0], apps.urls[1])
        text = text.replace('interval = "2s"', 'interval = "1h"')  # Gmail's job too
        assert 'interval = "2s"' not in text
        text = text.replace("[alerts]\n", "[alerts]\nnotify_existing = true\n")
        both = f'sending_ips = ["{IP}", "{OTHER_IP}"]'
        config.write_text(text.replace(f'sending_ips = ["{IP}"]', both))
        monkeypatch.setenv("E2E_SNDS_KEY", SNDS_KEY)
        with DaemonProcess(config) as daemon:
            yellow = wait_for(
                lambda: firing(receiver, "snds_filter"), what="OTHER_IP's YELLOW announced"
            )
            assert yellow[0]["labels"] == {"ip": OTHER_IP}
            imports = [page for page, _day in snds.requests if page == "data.aspx"]
            config.write_text(text)  # OTHER_IP no longer in sending_ips
            daemon.signal(signal.SIGHUP)
            summary = wait_for(
                lambda: firing(receiver, "snds_unconfigured"), what="the summary at the reload"
            )
            assert str(summary[0]["text"]).startswith(f"{OTHER_IP} (YELLOW)")
            resolved = receiver.matching(kind="snds_filter", status="resolved")
            assert [n["labels"] for n in resolved] == [{"ip": OTHER_IP}]
            # No import since the start's: the summary came from the reload.
            assert [page for page, _day in snds.requests if page == "data.aspx"] == imports
