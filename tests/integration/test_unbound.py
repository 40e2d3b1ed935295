"""The stack's resolver: Debian's Unbound with the shipped deploy/unbound.conf (on loopback),
the daemon's self-tests and sweeps going through it to the test's own NSD, and
``delivermon doctor`` telling each kind of resolver apart.

The test's zones are delegated to its NSD with stub zones (tests/unbound.py); nothing
leaves the machine. The signed zone is signed by the test (tests/dnssec.py) and trusted
by its DS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cli import run_cli
from daemon import DaemonProcess, wait_for
from dnssec import SERIAL, write_signed_zone
from dnsserver import NsdServer, StartNsd
from opsworld import IP, write_config
from opsworld import zones as ops_zones
from receiver import Receiver
from unbound import SHIPPED, UnboundServer, loopback_config

StartUnbound = Callable[..., UnboundServer]

ZEN = "zen.spamhaus.org"
SIGNED = "signed.example"
TEST_POINT = "2.0.0.127 IN A 127.0.0.2"
PUBLIC_RESOLVER = "2.0.0.127 IN A 127.255.255.254"  # Spamhaus' answer to a public resolver


def settings(text: str) -> list[tuple[str, str]]:
    """(key, value) of every ``key: value`` line, comments dropped, in order."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if ":" in line:
            key, _, value = line.partition(":")
            found.append((key.strip(), value.strip()))
    return found


# --- the shipped file ----------------------------------------------------------------------


def test_the_shipped_resolver_recurses_itself_validates_and_answers_only_its_network() -> None:
    shipped = settings(SHIPPED.read_text("utf-8"))
    keys = {k for k, _ in shipped}
    assert not keys & {"forward-zone", "forward-addr", "forward-host", "stub-zone"}
    assert ("auto-trust-anchor-file", '"/var/lib/unbound/root.key"') in shipped
    assert [v for k, v in shipped if k == "access-control"] == [
        "0.0.0.0/0 refuse",
        "127.0.0.0/8 allow",
        "172.28.53.0/24 allow",  # the compose network (docker-compose.yml)
    ]
    assert ("serve-expired", "no") in shipped  # never a stale "not listed"
    assert ("control-interface", "/run/unbound.ctl") in shipped  # the health check's socket


def test_the_test_changes_only_addresses_paths_and_the_delegations(tmp_path: Path) -> None:
    shipped = settings(SHIPPED.read_text("utf-8"))
    adapted = settings(loopback_config(tmp_path, 5353, stubs={ZEN: "127.0.0.1:5300"}))
    changed = {k for k, v in shipped if (k, v) not in adapted}
    assert changed == {
        "interface",
        "port",
        "access-control",  # the compose network's line goes: loopback only
        "username",
        "directory",
        "auto-trust-anchor-file",
        "control-interface",
    }
    added = [(k, v) for k, v in adapted if (k, v) not in shipped]
    assert ("access-control", "172.28.53.0/24 allow") not in adapted
    assert {k for k, _ in added} - {"interface", "port", "username", "directory"} == {
        "auto-trust-anchor-file",
        "control-interface",
        "do-not-query-localhost",
        "stub-zone",
        "name",
        "stub-addr",
    }
    assert "forward-zone" not in {k for k, _ in adapted}


# --- the daemon through Unbound ---------------------------------------------------------


def unbound_stats(server: UnboundServer) -> dict[str, float]:
    done = server.control("stats_noreset")
    assert done.returncode == 0, done.stderr
    return {k: float(v) for k, v in re.findall(r"^([\w.]+)=([\d.]+)$", done.stdout, re.M)}


def test_the_daemons_self_tests_and_sweeps_go_through_unbound_to_the_tests_nsd(
    tmp_path: Path, nsd_factory: StartNsd, unbound_factory: StartUnbound, receiver: Receiver
) -> None:
    world = {name: records for name, records in ops_zones().items() if name != "bl.spamcop.net"}
    nsd = nsd_factory(world)
    unbound = unbound_factory(stubs=dict.fromkeys(world, nsd.address), insecure=list(world))
    assert unbound.control("status").returncode == 0  # the compose health check
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd, receiver.url)
    config.write_text(
        config.read_text()
        .replace(f'nameservers = ["{nsd.address}"]', f'nameservers = ["{unbound.address}"]')
        .replace('zones = ["zen.spamhaus.org", "bl.spamcop.net"]', f'zones = ["{ZEN}"]')
    )
    assert unbound.address in config.read_text()
    assert nsd.address not in config.read_text()  # the daemon knows only the resolver
    assert "bl.spamcop.net" not in config.read_text()
    asked = nsd.query_count() or 0
    with DaemonProcess(config) as daemon:
        wait_for(
            lambda: daemon.value("delivermon_dnsbl_zone_healthy", zone=ZEN) == 1,
            what="the self-test through Unbound",
        )
        wait_for(
            lambda: daemon.value("delivermon_dnsbl_listed", target=IP, zone=ZEN) == 1,
            what="the listing, swept through Unbound",
        )
        wait_for(
            lambda: (
                daemon.value("delivermon_dmarc_policy", domain="example.com", policy="reject") == 1
            ),
            what="the auth checks through Unbound",
        )
        assert daemon.value("delivermon_dnsbl_unknown", target=IP, zone=ZEN) == 0
    assert (nsd.query_count() or 0) > asked  # Unbound asked the test's NSD
    assert unbound_stats(unbound)["total.num.queries"] > 0  # the daemon asked Unbound


# --- delivermon doctor ------------------------------------------------------------------


def doctor(*args: str) -> tuple[int, dict[str, dict[str, str]], list[str]]:
    """Exit code, check -> status (and summary), finding codes of one resolver."""
    done = run_cli("doctor", "--json", "--zone", ZEN, *args, timeout=120)
    assert done.returncode != 2, done.stderr
    (report,) = json.loads(done.stdout)["resolvers"]
    checks = {
        c["check"]: {"status": c["status"], "summary": c["summary"]} for c in report["checks"]
    }
    codes = [f["code"] for c in report["checks"] for f in c["findings"]]
    return done.returncode, checks, codes


def statuses(checks: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: check["status"] for name, check in checks.items()}


def signed_world(tmp_path: Path, nsd_factory: StartNsd, zen: list[str]) -> tuple[NsdServer, str]:
    nsd = nsd_factory({ZEN: zen})
    ds = write_signed_zone(f"{SIGNED}.", ["www IN A 192.0.2.1"], tmp_path / "signed.zone")
    nsd.add_zone_file(SIGNED, tmp_path / "signed.zone", serial=SERIAL)
    nsd.reload()
    return nsd, ds


def test_doctor_finds_the_shipped_resolver_fit(
    tmp_path: Path, nsd_factory: StartNsd, unbound_factory: StartUnbound
) -> None:
    nsd, ds = signed_world(tmp_path, nsd_factory, [TEST_POINT])
    unbound = unbound_factory(
        stubs={ZEN: nsd.address, SIGNED: nsd.address}, insecure=[ZEN], trust_anchors=[ds]
    )
    code, checks, findings = doctor("--nameserver", unbound.address, "--dnssec-name", SIGNED)
    assert (code, findings) == (0, [])
    assert statuses(checks) == dict.fromkeys(
        ("answers", "recursion", "not_refused", "dnssec", "latency"), "ok"
    )


def test_doctor_says_a_list_refuses_a_public_resolver(
    tmp_path: Path, nsd_factory: StartNsd, unbound_factory: StartUnbound
) -> None:
    nsd, ds = signed_world(tmp_path, nsd_factory, [PUBLIC_RESOLVER])
    unbound = unbound_factory(
        stubs={ZEN: nsd.address, SIGNED: nsd.address}, insecure=[ZEN], trust_anchors=[ds]
    )
    code, checks, findings = doctor("--nameserver", unbound.address, "--dnssec-name", SIGNED)
    assert (code, findings) == (1, ["resolver.refused_by_list"])
    assert checks["not_refused"]["status"] == "problem"
    assert "127.255.255.254" in checks["not_refused"]["summary"]
    assert checks["recursion"]["status"] == "ok"


def test_doctor_says_an_authoritative_server_does_not_recurse(nsd_factory: StartNsd) -> None:
    nsd = nsd_factory({ZEN: [TEST_POINT]})
    code, checks, findings = doctor("--nameserver", nsd.address)
    assert code == 1
    assert checks["recursion"]["status"] == "problem"
    assert "resolver.no_recursion" in findings


def test_doctor_says_nothing_answers_at_a_dead_port(closed_udp_port: str) -> None:
    code, checks, findings = doctor("--nameserver", closed_udp_port)
    assert (code, statuses(checks), findings) == (
        1,
        {"answers": "problem"},
        ["resolver.no_answer"],
    )


def test_doctor_says_a_resolver_does_not_validate(
    tmp_path: Path, nsd_factory: StartNsd, unbound_factory: StartUnbound
) -> None:
    nsd, _ds = signed_world(tmp_path, nsd_factory, [TEST_POINT])
    unbound = unbound_factory(  # the signed zone not trusted: its answers are not validated
        stubs={ZEN: nsd.address, SIGNED: nsd.address}, insecure=[ZEN, SIGNED]
    )
    code, checks, findings = doctor("--nameserver", unbound.address, "--dnssec-name", SIGNED)
    assert (code, findings) == (1, ["resolver.not_validating"])
    assert checks["dnssec"]["status"] == "problem"


def test_doctor_could_not_tell_when_the_signed_name_cannot_be_asked(
    nsd_factory: StartNsd, unbound_factory: StartUnbound
) -> None:
    nsd = nsd_factory({ZEN: [TEST_POINT]}, broken=[SIGNED])  # SERVFAIL for the signed name
    unbound = unbound_factory(stubs={ZEN: nsd.address, SIGNED: nsd.address}, insecure=[ZEN])
    code, checks, findings = doctor("--nameserver", unbound.address, "--dnssec-name", SIGNED)
    assert (code, findings) == (3, ["resolver.dnssec_unknown"])
    assert checks["dnssec"]["status"] == "unknown"
    assert checks["not_refused"]["status"] == "ok"


def test_doctor_prints_what_to_do(closed_udp_port: str) -> None:
    done = run_cli("doctor", "--nameserver", closed_udp_port, "--zone", ZEN, timeout=60)
    assert done.returncode == 1
    assert "What to do:" in done.stdout
    assert "apt-get install unbound" in done.stdout
    # The checks a failed "answers" rules out are listed as not run, not left out.
    for label in ("recursion", "lists accept it", "DNSSEC", "latency"):
        assert f"not run  {label}" in done.stdout


@pytest.mark.parametrize("option", [["--max-latency-ms", "0"], ["--nameserver", "dns.example"]])
def test_doctor_usage_errors_exit_2(option: list[str]) -> None:
    assert run_cli("doctor", *option).returncode == 2
