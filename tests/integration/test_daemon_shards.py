"""Scale-out: two daemons on one PostgreSQL, each checking its shard of the targets.

Every target is checked by exactly one replica; a listing is announced once; the
API of either replica shows every target (the results are in the shared store).
"""

from __future__ import annotations

import contextlib
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon import DaemonProcess, fast_config, wait_for
from dnsserver import StartNsd
from pgserver import PgServer
from receiver import Receiver

pytestmark = [pytest.mark.nsd, pytest.mark.postgresql]

ZONE = "bl.shard.test"
IPS = [f"192.0.2.{n}" for n in range(10, 16)]
TEST_POINTS = ["2.0.0.127 IN A 127.0.0.2"]


def dnsbl_targets(daemon: DaemonProcess) -> set[str]:
    return {
        labels["target"]
        for labels, _ in daemon.samples("delivermon_check_last_run_timestamp_seconds")
        if labels["check"] == "dnsbl"
    }


def cluster_config(
    tmp_path: Path, nameserver: str, postgresql_server: PgServer, receiver: Receiver
) -> Path:
    """One config for both replicas: a fresh PostgreSQL database, example.com and IPS."""
    url = postgresql_server.create_database(f"shards_{uuid.uuid4().hex[:12]}")
    config = tmp_path / "delivermon.toml"
    config.write_text(
        fast_config(
            nameserver=nameserver,
            zones=[ZONE],
            store_url=url,
            notify_url=receiver.url,
            extra=f"""
[[domains]]
name = "example.com"
sending_ips = {json.dumps(IPS)}
""",
        )
    )
    return config


@contextlib.contextmanager
def two_replicas(
    config: Path, everything: set[str]
) -> Iterator[tuple[DaemonProcess, DaemonProcess]]:
    """Replicas 0/2 and 1/2 on ``config``, once both have swept their shares."""
    with (
        DaemonProcess(config, extra_args=("--shard", "0/2")) as first,
        DaemonProcess(config, extra_args=("--shard", "1/2")) as second,
    ):
        wait_for(
            lambda: dnsbl_targets(first) | dnsbl_targets(second) == everything,
            what="both replicas to sweep their shares",
        )
        yield first, second


def test_two_replicas_split_the_targets_and_announce_a_listing_once(
    tmp_path: Path, nsd_factory: StartNsd, postgresql_server: PgServer, receiver: Receiver
) -> None:
    nsd = nsd_factory({ZONE: TEST_POINTS})
    config = cluster_config(tmp_path, nsd.address, postgresql_server, receiver)
    everything = {"example.com", *IPS}
    with two_replicas(config, everything) as (first, second):
        mine, theirs = dnsbl_targets(first), dnsbl_targets(second)
        assert mine
        assert theirs
        assert not mine & theirs  # no target is checked twice

        # Either replica's API shows every target, from the shared store.
        docs = first.json("/api/v1/targets")
        assert isinstance(docs, dict)
        assert {d["target"] for d in docs["targets"]} == everything
        assert all(d["dnsbl"] for d in docs["targets"] if d["kind"] == "ip")

        victim = sorted(theirs & set(IPS))[0] if theirs & set(IPS) else sorted(mine & set(IPS))[0]
        reversed_ip = ".".join(reversed(victim.split(".")))
        nsd.add_zone(ZONE, [*TEST_POINTS, f"{reversed_ip} IN A 127.0.0.2"])
        nsd.reload()
        wait_for(lambda: receiver.matching(kind="listed"), what="the listing notification")
        sweeps = first.value("delivermon_job_runs_total", task="sweep", outcome="success") or 0
        wait_for(
            lambda: (
                (first.value("delivermon_job_runs_total", task="sweep", outcome="success") or 0)
                >= sweeps + 3
            ),
            what="three more sweeps",
        )
        (announced,) = receiver.matching(kind="listed")
        assert announced["key"] == f"listed:{victim}:{ZONE}"


def test_an_ips_spf_factor_is_scored_when_its_domain_is_another_replicas(
    tmp_path: Path, nsd_factory: StartNsd, postgresql_server: PgServer, receiver: Receiver
) -> None:
    """The domain's SPF record fails every sending IP. An IP checked by the replica that
    does not check the domain is scored from the domain's SPF state in the shared store,
    as one replica alone would score it (not 'unknown', which scored 0 and never alerted)."""
    nsd = nsd_factory({ZONE: TEST_POINTS, "example.com": ['@ IN TXT "v=spf1 -all"']})
    config = cluster_config(tmp_path, nsd.address, postgresql_server, receiver)
    everything = {"example.com", *IPS}
    with two_replicas(config, everything) as (first, second):
        owner = dict.fromkeys(dnsbl_targets(first), first)
        owner |= dict.fromkeys(dnsbl_targets(second), second)
        apart = [ip for ip in IPS if owner[ip] is not owner["example.com"]]
        assert apart, "the hash put every IP with its domain: pick other IPs"

        def spf_points(ip: str) -> int:
            """The SPF factor's points in the risk of the replica that checks ``ip``, or
            -1 while it is unknown."""
            doc = owner[ip].json(f"/api/v1/targets/{ip}")
            assert isinstance(doc, dict)
            risk = doc.get("risk") or {}
            if "spf_own_ip_fail" in risk.get("unknown", ["spf_own_ip_fail"]):
                return -1
            (factor,) = [f for f in risk["factors"] if f["name"] == "spf_own_ip_fail"]
            return int(factor["points"])

        for ip in apart:
            wait_for(
                lambda ip=ip: spf_points(ip) > 0,  # type: ignore[misc]
                what=f"{ip}'s SPF factor from the other replica's domain",
            )


def test_a_replica_other_than_shard_0_says_it_ignores_the_first_replicas_settings(
    tmp_path: Path, nsd_factory: StartNsd, postgresql_server: PgServer, receiver: Receiver
) -> None:
    """docs/deploy.md: only shard 0 runs the IMAP poller and follows the MTA logs; a
    replica given them says so (a WARNING each, at start and reload) instead of nothing."""
    nsd = nsd_factory({ZONE: TEST_POINTS})
    config = cluster_config(tmp_path, nsd.address, postgresql_server, receiver)
    (tmp_path / "mail.log").write_text("")
    config.write_text(
        config.read_text().replace(
            "[store]",
            f'[bounces]\nmta_logs = ["{tmp_path / "mail.log"}"]\n\n'
            '[imap]\nhost = "127.0.0.1"\nport = 1\nusername = "fbl"\npassword = "secret"\n'
            'security = "none"\n\n[store]',
        )
    )
    with DaemonProcess(config, extra_args=("--shard", "1/2")) as replica:
        wait_for(lambda: "daemon started" in replica.log(), what="the start")
        replica.signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in replica.log(), what="the reload")
        for section in ("[imap]", "[bounces] mta_logs"):
            warning = (
                f"{section} is set, but only the first replica (shard 0) runs its job: "
                "this one (shard 1/2) ignores it"
            )
            assert replica.log().count(warning) == 2  # at start, and at the reload
    with DaemonProcess(config, extra_args=("--shard", "0/2")) as first:
        wait_for(lambda: "daemon started" in first.log(), what="the start")
        assert "ignores it" not in first.log()
