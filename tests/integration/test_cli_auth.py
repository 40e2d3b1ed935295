"""``delivermon check`` for a sending domain: SPF, DMARC, DKIM, MX, PTR, scorecard, end to end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli import run_cli as run
from dnsserver import NsdServer, StartNsd
from unit.test_dkim_keygen import rsa_record
from zonefile import txt

SENDING_IP = "192.0.2.10"


def domain_zone(spf: str, dmarc: str, key_bits: int) -> list[str]:
    return [
        f"@ IN TXT {txt(spf)}",
        f"_dmarc IN TXT {txt(dmarc)}",
        f"s1._domainkey IN TXT {txt(rsa_record(key_bits))}",
        "@ IN MX 10 mail.example.com.",
        f"mail IN A {SENDING_IP}",
    ]


def serve(nsd_factory: StartNsd, *, spf: str, dmarc: str, key_bits: int = 2048) -> NsdServer:
    return nsd_factory(
        {
            "example.com": domain_zone(spf, dmarc, key_bits),
            "com": [],  # the DMARC tree walk asks _dmarc.com
            "2.0.192.in-addr.arpa": ["10 IN PTR mail.example.com."],
        }
    )


def check_auth(server: str, *extra: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """``delivermon check example.com`` for selector s1 and SENDING_IP, auth checks only."""
    argv = ["example.com", "--selector", "s1", "--sending-ip", SENDING_IP, "--checks", "auth"]
    return run("check", *argv, "--nameserver", server, *extra, **options)


def check(server: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """`check_auth` with --json: its exit status and document."""
    proc = check_auth(server, "--json", *extra)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_a_compliant_domain_exits_0_with_every_member(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        spf=f"v=spf1 ip4:{SENDING_IP} -all",
        dmarc="v=DMARC1; p=reject; rua=mailto:d@example.com",
    )
    code, doc = check(server.address)
    (target,) = doc["targets"]
    assert code == 0, json.dumps(target, indent=1)
    assert target["spf"]["status"] == "ok"
    assert target["spf"]["ip_results"] == {SENDING_IP: "pass"}
    assert target["spf"]["dns_lookups"] == 0
    assert target["dmarc"]["policy"] == "reject"
    assert target["dmarc"]["policy_domain"] == "example.com"
    (key,) = target["dkim"]
    assert (key["selector"], key["key_type"], key["key_bits"]) == ("s1", "rsa", 2048)
    assert target["mx"]["hosts"][0]["name"] == "mail.example.com"
    assert target["compliance"]["compliant"] is True
    assert {r["status"] for r in target["compliance"]["rows"]} == {"pass"}


def test_broken_authentication_exits_1_and_names_each_problem(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory, spf="v=spf1 ip4:192.0.2.99 ~all", dmarc="v=DMARC1; p=none", key_bits=1024
    )
    code, doc = check(server.address)
    (target,) = doc["targets"]
    assert code == 1
    assert target["spf"]["ip_results"] == {SENDING_IP: "softfail"}
    assert "spf.sending_ip_not_permitted" in {f["code"] for f in target["spf"]["findings"]}
    assert target["dmarc"]["status"] == "warn"
    assert "dmarc.policy_none" in {f["code"] for f in target["dmarc"]["findings"]}
    assert target["dkim"][0]["status"] == "warn"
    rows = {r["requirement"]: r["status"] for r in target["compliance"]["rows"]}
    assert rows["spf_passes_for_sending_ips"] == "fail"
    assert rows["dkim_key_at_least_1024_bits"] == "pass"
    assert target["compliance"]["compliant"] is False


def test_ip_target_gets_a_forward_confirmed_ptr(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, spf="v=spf1 -all", dmarc="v=DMARC1; p=reject")
    proc = run("check", SENDING_IP, "--checks", "auth", "--nameserver", server.address, "--json")
    (target,) = json.loads(proc.stdout)["targets"]
    assert proc.returncode == 0
    assert target["ptr"]["names"] == ["mail.example.com"]
    assert target["ptr"]["forward_confirmed"] is True


def test_unreachable_resolver_is_unknown_exit_3_never_missing(
    silent_udp_port: str, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[dns]\ntimeout = 0.2\nattempts = 1\n")
    code, doc = check(silent_udp_port, "--config", str(config))
    (target,) = doc["targets"]
    assert code == 3
    for member in ("spf", "dmarc", "mx"):
        assert target[member]["status"] == "unknown", member
    assert target["dkim"][0]["status"] == "unknown"
    codes = {f["code"] for f in target["spf"]["findings"]}
    assert "spf.missing" not in codes
    assert {r["status"] for r in target["compliance"]["rows"]} == {"unknown"}
    # for people, each finding code of the table is followed by what it means
    human = check_auth(silent_udp_port, "--config", str(config))
    assert "warning spf.lookup_failed: the SPF record of example.com could not be fetched" in (
        human.stdout
    )


def test_human_report_shows_the_scorecard(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, spf=f"v=spf1 ip4:{SENDING_IP} -all", dmarc="v=DMARC1; p=reject")
    proc = check_auth(server.address, env={"COLUMNS": "200"})
    assert "Bulk-sender requirements: example.com" in proc.stdout
    assert "fcrdns_for_sending_ips" in proc.stdout
    # no DNSBL zone was asked, so no target is called clean
    assert "clean on every zone asked" not in proc.stdout
    assert "no DNSBL zone asked" in proc.stdout


@pytest.mark.parametrize("bad", ["--checks=nope", "--sending-ip=not-an-ip", "--selector=a..b"])
def test_bad_arguments_exit_2(bad: str) -> None:
    assert run("check", "example.com", bad, "--nameserver", "127.0.0.1:9").returncode == 2


def _with_envelope(
    nsd_factory: StartNsd, tmp_path: Path, spf: str, bounce_spf: str
) -> tuple[NsdServer, Path]:
    """example.com with ``spf`` and the envelope domain bounce.example.com with
    ``bounce_spf``, served by NSD, and a config naming that envelope domain."""
    zone = domain_zone(spf, "v=DMARC1; p=reject", 2048)
    zone.append(f"bounce IN TXT {txt(bounce_spf)}")
    server = nsd_factory(
        {"example.com": zone, "com": [], "2.0.192.in-addr.arpa": ["10 IN PTR mail.example.com."]}
    )
    config = tmp_path / "c.toml"
    config.write_text(
        '[[domains]]\nname = "example.com"\nenvelope_domains = ["bounce.example.com"]\n'
    )
    return server, config


def test_envelope_domain_spf_decides_the_scorecard(nsd_factory: StartNsd, tmp_path: Path) -> None:
    # The From domain's SPF permits the IP, but mail leaves with an envelope domain
    # whose SPF does not: receivers check the envelope domain, so the row fails.
    server, config = _with_envelope(
        nsd_factory, tmp_path, f"v=spf1 ip4:{SENDING_IP} -all", "v=spf1 -all"
    )
    code, doc = check(server.address, "--config", str(config))
    (target,) = doc["targets"]
    assert code == 1
    # The From domain's record is not evaluated for the sending IPs: it authorises none
    # of the mail (it was, and its failing raised a critical alert receivers never saw).
    assert target["spf"]["ip_results"] == {}
    (envelope,) = target["envelope_spf"]
    assert envelope["domain"] == "bounce.example.com"
    assert envelope["ip_results"] == {SENDING_IP: "fail"}
    rows = {r["requirement"]: r["status"] for r in target["compliance"]["rows"]}
    assert rows["spf_passes_for_sending_ips"] == "fail"
    assert target["dmarc"]["alignment"]["spf:bounce.example.com"] == "aligned"


def test_the_table_shows_an_envelope_domain_with_its_envelope_status(
    nsd_factory: StartNsd, tmp_path: Path
) -> None:
    """One IP passes at the envelope domain, the other does not: `warn` in the JSON, and in
    the table too (it printed the raw SPF status, `fail`)."""
    server, config = _with_envelope(
        nsd_factory,
        tmp_path,
        f"v=spf1 ip4:{SENDING_IP} ip4:192.0.2.11 -all",
        f"v=spf1 ip4:{SENDING_IP} -all",
    )
    extra = ("--sending-ip", "192.0.2.11", "--config", str(config))
    _code, doc = check(server.address, *extra)
    (envelope,) = doc["targets"][0]["envelope_spf"]
    assert envelope["status"] == "warn"
    table = check_auth(server.address, *extra).stdout
    (row,) = [line for line in table.splitlines() if "SPF bounce.example.com" in line]
    assert row.split("│")[2].strip() == "warn"  # the status column
