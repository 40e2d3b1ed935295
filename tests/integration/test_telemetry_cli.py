"""``delivermon telemetry import|status`` as an operator runs them, against the local Postmaster
and SNDS stand-ins (tests/telemetryservers.py) and a SQLite store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli import run_cli
from telemetryservers import SNDS_KEY, Postmaster, Snds, ThreadedApps, compliance_rows, snds_line

TODAY = dt.datetime.now(dt.UTC).date()
DAYS = [TODAY - dt.timedelta(days=n) for n in range(12)]


@pytest.fixture
def servers() -> Iterator[tuple[Postmaster, Snds]]:
    pm, snds = Postmaster(), Snds()
    with ThreadedApps(pm.app(), snds.app()) as apps:
        pm.url, snds.url = apps.urls[0], apps.urls[1] + "/snds"
        yield pm, snds


def write_config(tmp_path: Path, pm: Postmaster, snds: Snds) -> Path:
    (tmp_path / "pm.json").write_text(json.dumps(pm.service_account_info()))
    path = tmp_path / "delivermon.toml"
    path.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "d.db"}"

[privacy]
pseudonym_key = "0123456789abcdef0123456789abcdef"

[[domains]]
name = "example.com"
sending_ips = ["192.0.2.10"]

[telemetry.gmail]
credentials = "{tmp_path / "pm.json"}"
api_base = "{pm.url}"

[telemetry.snds]
key = "env:CLI_SNDS_KEY"
base_url = "{snds.url}"
""")
    return path


ENV = {"CLI_SNDS_KEY": SNDS_KEY}


def test_backfill_then_status(tmp_path: Path, servers: tuple[Postmaster, Snds]) -> None:
    pm, snds = servers
    pm.stats["example.com"] = {(DAYS[10], "spam_rate"): 0.0035, (DAYS[2], "spam_rate"): 0.0004}
    pm.compliance["example.com"] = compliance_rows(SPF="COMPLIANT", DMARC_ALIGNMENT="NEEDS_WORK")
    snds.data[f"{DAYS[2]:%m%d%y}"] = [snds_line("192.0.2.10", day=DAYS[2], result="RED", traps=4)]
    snds.ip_status = ["192.0.2.10,192.0.2.10,Yes,SpamHaus SBL/XBL"]
    config = write_config(tmp_path, pm, snds)
    since = DAYS[11].isoformat()
    before = dt.datetime.now(dt.UTC).date()
    done = run_cli(
        "telemetry", "import", "--since", since, "--json", "--config", str(config), env=ENV
    )
    # One request per day from --since up to the CLI's yesterday; the run (or this
    # module's import, which fixed DAYS) may fall on either side of midnight UTC.
    per_day = {(day - DAYS[11]).days for day in (before, dt.datetime.now(dt.UTC).date())}
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == {
        "gmail": {"example.com": {"state": "ok", "reason": ""}},
        "snds": {"data": {"state": "ok", "reason": ""}, "ip_status": {"state": "ok", "reason": ""}},
    }
    assert len([p for p, _d in snds.requests if p == "data.aspx"]) in per_day
    status = run_cli("telemetry", "status", "--json", "--config", str(config), env=ENV)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    gmail = doc["gmail"]["example.com"]
    assert (gmail["state"], gmail["spam_rate"], gmail["spam_rate_day"]) == (
        "ok",
        0.0004,
        DAYS[2].isoformat(),
    )
    assert {f["code"] for f in gmail["findings"]} == {
        "gmail.compliance_failing"
    }  # 0.35% is >7 days old
    ip = doc["snds"]["192.0.2.10"]
    assert (ip["filter_result"], ip["trap_hits"], ip["blocked"]) == ("red", 4, True)
    assert {f["code"] for f in ip["findings"]} == {
        "snds.filter_red",
        "snds.trap_hits",
        "snds.blocked",
    }
    human = run_cli("telemetry", "status", "--config", str(config), env=ENV)
    assert "BLOCKED" in human.stdout
    assert SNDS_KEY not in human.stdout + human.stderr + status.stdout


def test_an_outage_exits_1_and_a_missing_section_exits_2(
    tmp_path: Path, servers: tuple[Postmaster, Snds]
) -> None:
    pm, snds = servers
    pm.outage = True
    config = write_config(tmp_path, pm, snds)
    done = run_cli("telemetry", "import", "--source", "gmail", "--config", str(config), env=ENV)
    assert done.returncode == 1
    assert "unavailable" in done.stdout
    bare = tmp_path / "bare.toml"
    bare.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "e.db"}"\n')
    refused = run_cli("telemetry", "import", "--source", "snds", "--config", str(bare))
    assert refused.returncode == 2
    assert "[telemetry.snds]" in refused.stderr
    bad_date = run_cli(
        "telemetry", "import", "--since", "yesterday", "--config", str(config), env=ENV
    )
    assert bad_date.returncode == 2


def test_a_since_inside_the_lookback_keeps_the_whole_lookback(
    tmp_path: Path, servers: tuple[Postmaster, Snds]
) -> None:
    """--since today asks Gmail from the usual lookback on, not from today: a domain with
    data three days ago stays "ok" with its rate, never "no_data"."""
    pm, snds = servers
    pm.stats["example.com"] = {(DAYS[3], "spam_rate"): 0.0015}
    config = write_config(tmp_path, pm, snds)
    done = run_cli(
        "telemetry", "import", "--source", "gmail", "--since", TODAY.isoformat(),
        "--json", "--config", str(config), env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"]["gmail"]["example.com"]["state"] == "ok"
    status = json.loads(
        run_cli("telemetry", "status", "--json", "--config", str(config), env=ENV).stdout
    )
    assert status["gmail"]["example.com"]["spam_rate"] == 0.0015


def test_status_needs_no_secret(tmp_path: Path, servers: tuple[Postmaster, Snds]) -> None:
    """status shows what is stored: it runs without the SNDS key's variable and with the
    credentials file gone (import still needs both)."""
    pm, snds = servers
    snds.data[None] = [snds_line("192.0.2.10", day=DAYS[1], result="YELLOW")]
    config = write_config(tmp_path, pm, snds)
    done = run_cli("telemetry", "import", "--source", "snds", "--config", str(config), env=ENV)
    assert done.returncode == 0, done.stderr
    (tmp_path / "pm.json").unlink()
    status = run_cli("telemetry", "status", "--json", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["snds"]["192.0.2.10"]["filter_result"] == "yellow"
    refused = run_cli("telemetry", "import", "--config", str(config))
    assert refused.returncode == 2
    assert "CLI_SNDS_KEY" in refused.stderr


def test_status_refuses_a_store_that_does_not_exist(
    tmp_path: Path, servers: tuple[Postmaster, Snds]
) -> None:
    """A wrong [store] url must not read as "never imported" from a new, empty store."""
    config = write_config(tmp_path, *servers)
    status = run_cli("telemetry", "status", "--json", "--config", str(config))
    assert status.returncode == 1, status.stderr
    assert status.stdout == ""
    assert f"{tmp_path / 'd.db'} does not exist" in status.stderr
    assert not (tmp_path / "d.db").exists()


def test_status_without_a_telemetry_section_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "delivermon.toml"
    path.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n')
    status = run_cli("telemetry", "status", "--config", str(path))
    assert status.returncode == 2, status.stderr
    assert "no [telemetry.gmail] or [telemetry.snds] section" in status.stderr
    (tmp_path / "pm.json").write_text("{}")
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n'
        f'[telemetry.gmail]\ncredentials = "{tmp_path / "pm.json"}"\n'
    )
    no_domain = run_cli("telemetry", "status", "--config", str(path))
    assert no_domain.returncode == 2, no_domain.stderr
