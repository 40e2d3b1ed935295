"""DNS faults against the daemon's sweep: the resolver stops mid-sweep, answers after the
timeout, SERVFAILs one zone, truncates over UDP and TCP, answers another question.

The daemon runs in process; its resolver is a proxy (tests/dnsproxy.py, the stand-in for
a misbehaving peer) in front of a real NSD serving two lists. Before each fault a clean
sweep establishes the truth (192.0.2.1 listed on both lists, 192.0.2.2 on none); under the
fault every affected verdict must be ``unknown`` with the fault's reason, no listing may be
invented (192.0.2.2) or lost (192.0.2.1's listed alert keeps firing), the zone alert (not a
listing alert) must fire once the self-test sees the fault, and ``/readyz`` must name it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnsproxy import DnsProxy
from dnsserver import NsdServer, StartNsd

from monitor.checking.states import CheckName
from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.daemon.queries import Readiness
from monitor.model.alerts import AlertKind

ZONES = ("bl-a.fault.test", "bl-b.fault.test")
LISTED, CLEAN = "192.0.2.1", "192.0.2.2"


def _zone_records() -> list[str]:
    return ["2.0.0.127 IN A 127.0.0.2", "1.2.0.192 IN A 127.0.0.2", '1.2.0.192 IN TXT "spam"']


def _config(tmp_path: Path, nameserver: str) -> str:
    custom = "".join(
        f"""
[[dnsbl.custom_zones]]
id = "{zone}"
codes = [{{ value = "127.0.0.2", meaning = "listed" }}]
"""
        for zone in ZONES
    )
    return f"""
[dns]
nameservers = ["{nameserver}"]
# 1 s: a loopback answer under a loaded CI machine must not read as a fault; the
# "slow" fault answers well after it.
timeout = 1.0
attempts = 1
cache_entries = 0
[dnsbl]
zones = {list(ZONES)!r}
{custom}
[[domains]]
name = "fault.example"
sending_ips = ["{LISTED}", "{CLEAN}"]
[store]
url = "sqlite:///{tmp_path / "d.db"}"
[privacy]
pseudonym_key = "0123456789abcdef0123456789abcdef"
[alerts]
notify_existing = true
confirm_delay = 0
resolve_after = 1
""".replace("'", '"')


@pytest.fixture
async def setup(
    nsd_factory: StartNsd, tmp_path: Path
) -> AsyncIterator[tuple[Daemon, DnsProxy, NsdServer]]:
    nsd = nsd_factory({zone: _zone_records() for zone in ZONES})
    host, port = nsd.address.split(":")
    proxy = await DnsProxy((host, int(port))).start()
    path = tmp_path / "delivermon.toml"
    path.write_text(_config(tmp_path, proxy.address))
    daemon = Daemon(parse_config(path.read_text()), DaemonOptions(listen="127.0.0.1:0"))
    await daemon.start()
    yield daemon, proxy, nsd
    await daemon.stop()
    await proxy.stop()


async def _verdicts(daemon: Daemon) -> dict[tuple[str, str], tuple[str, str | None]]:
    states = await daemon.store.latest_states(targets=[LISTED, CLEAN])
    return {
        (s.target, s.item): (s.status, s.detail_dict().get("error"))  # type: ignore[misc]
        for s in states
        if s.check is CheckName.DNSBL
    }


async def _firing(daemon: Daemon) -> set[str]:
    return {a.key for a in await daemon.store.firing_alerts()}


async def _clean_sweep(daemon: Daemon) -> None:
    await daemon.services.dnsbl.selftest()
    await daemon.services.dnsbl.sweep()
    truth = {
        **{(LISTED, z): ("listed", None) for z in ZONES},
        **{(CLEAN, z): ("not_listed", None) for z in ZONES},
    }
    assert await _verdicts(daemon) == truth
    assert {f"listed:{LISTED}:{z}" for z in ZONES} <= await _firing(daemon)


@pytest.mark.parametrize(
    ("fault", "reason", "zones"),
    [
        pytest.param({"mode": "slow", "delay": 2.5}, "timeout", ZONES, id="slower-than-timeout"),
        pytest.param({"servfail_zone": ZONES[0]}, "servfail", ZONES[:1], id="servfail-one-zone"),
        pytest.param({"mode": "truncate"}, "truncated", ZONES, id="truncated-udp-and-tcp"),
        pytest.param({"mode": "wrong_question"}, "timeout", ZONES, id="wrong-question"),
        pytest.param({"mode": "drop"}, "timeout", ZONES, id="server-stopped"),
    ],
)
async def test_a_dns_fault_makes_verdicts_unknown_and_fires_the_zone_alert(
    setup: tuple[Daemon, DnsProxy, NsdServer],
    fault: dict[str, object],
    reason: str,
    zones: tuple[str, ...],
) -> None:
    daemon, proxy, _ = setup
    await _clean_sweep(daemon)
    for name, value in fault.items():
        setattr(proxy, name, value)
    tcp_before = proxy.tcp_queries
    await daemon.services.dnsbl.sweep()  # the self-test has not seen the fault yet
    verdicts = await _verdicts(daemon)
    for zone in ZONES:
        for target, truth in ((LISTED, "listed"), (CLEAN, "not_listed")):
            expected = ("unknown", reason) if zone in zones else (truth, None)
            assert verdicts[(target, zone)] == expected, (target, zone)
    if fault.get("mode") == "truncate":
        assert proxy.tcp_queries > tcp_before  # TC over UDP was retried over TCP
    firing = await _firing(daemon)
    assert {f"listed:{LISTED}:{z}" for z in ZONES} <= firing  # not lost
    assert not any(k.startswith(f"listed:{CLEAN}:") for k in firing)  # not invented

    await daemon.services.dnsbl.selftest()
    firing = await _firing(daemon)
    for zone in ZONES:
        assert (f"zone_unhealthy:{zone}:ipv4" in firing) == (zone in zones)
    alerts = await daemon.store.firing_alerts([AlertKind.LISTED])
    assert {a.key for a in alerts} == {f"listed:{LISTED}:{z}" for z in ZONES}
    _ready, components = await Readiness(
        daemon.runtime, daemon.store, daemon.scheduler, daemon.services.dnsbl
    ).check()
    resolver = components["resolver"]
    assert isinstance(resolver, dict)
    assert resolver["unhealthy_zones"] == sorted(zones)
    assert resolver["ok"] is (zones != ZONES)  # one healthy zone shows the resolver works

    # The fault ends: verdicts come back, nothing was lost meanwhile.
    for name in fault:
        setattr(proxy, name, DnsProxy(("", 0)).__getattribute__(name))
    await _clean_sweep(daemon)
    assert not any(k.startswith("zone_unhealthy:") for k in await _firing(daemon))


async def test_the_server_stopping_mid_sweep_loses_and_invents_nothing(
    setup: tuple[Daemon, DnsProxy, NsdServer],
) -> None:
    daemon, proxy, _ = setup
    await _clean_sweep(daemon)
    proxy.drop_after = proxy.queries + 2  # two answers, then silence
    await daemon.services.dnsbl.sweep()
    verdicts = await _verdicts(daemon)
    told = {k: v for k, v in verdicts.items() if v[0] != "unknown"}
    unknown = {k: v for k, v in verdicts.items() if v[0] == "unknown"}
    assert len(told) == 2
    assert len(unknown) == 2
    assert all(v == ("unknown", "timeout") for v in unknown.values())
    for (target, _zone), (status, _) in told.items():
        assert status == ("listed" if target == LISTED else "not_listed")
    firing = await _firing(daemon)
    assert {f"listed:{LISTED}:{z}" for z in ZONES} <= firing
    assert not any(k.startswith(f"listed:{CLEAN}:") for k in firing)
