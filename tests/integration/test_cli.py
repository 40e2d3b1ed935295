"""``delivermon`` as a user runs it: the console script against a real NSD; JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli import run_cli as run
from dnsserver import NsdServer, StartNsd

KEY = "abcdefghijklmnopqrstuvwxyz"
LIST = [
    "2.0.0.127 IN A 127.0.0.2",
    "10.2.0.192 IN A 127.0.0.2",
    '10.2.0.192 IN TXT "listed for testing"',
]


def check_json(*args: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    proc = run("check", "--json", "--checks", "dnsbl", *args, **kw)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def server(nsd_factory: StartNsd) -> NsdServer:
    return nsd_factory(
        {
            "bl.cli.test": LIST,
            "zen.spamhaus.org": LIST,
            f"{KEY}.zen.dq.spamhaus.net": LIST,
            "dom.cli.test": ["test IN A 127.0.0.2", "bad.example IN A 127.0.0.2"],
        }
    )


def test_json_document_carries_the_version_1_fields(server: NsdServer) -> None:
    code, doc = check_json("192.0.2.10", "--nameserver", server.address, "--zone", "bl.cli.test")
    assert code == 1
    assert doc["version"] == 1
    assert doc["checked_at"].endswith("Z")
    (target,) = doc["targets"]
    assert target["target"] == "192.0.2.10"
    assert target["kind"] == "ip"
    (result,) = target["dnsbl"]
    assert result == {
        "zone": "bl.cli.test",
        "verdict": "listed",
        "codes": ["127.0.0.2"],
        "meanings": ["listed"],
        "severity": "major",
        "reason": "listed for testing",
        "error": None,
    }
    assert [f["code"] for f in target["findings"]] == ["dnsbl.listed"]
    assert doc["zones"] == [
        {
            "zone": "bl.cli.test",
            "family": "ipv4",
            "healthy": True,
            "reason": None,
            "test_point": None,
        }
    ]


def test_exit_0_when_nothing_is_listed_and_everything_is_known(server: NsdServer) -> None:
    code, doc = check_json("192.0.2.1", "--nameserver", server.address, "--zone", "bl.cli.test")
    assert code == 0
    assert doc["targets"][0]["dnsbl"][0]["verdict"] == "not_listed"


def test_exit_3_when_some_results_are_unknown(server: NsdServer) -> None:
    code, doc = check_json(
        "192.0.2.1",
        "--nameserver",
        server.address,
        "--zone",
        "bl.cli.test",
        "--zone",
        "gone.cli.test",
    )
    assert code == 3
    verdicts = {r["zone"]: (r["verdict"], r["error"]) for r in doc["targets"][0]["dnsbl"]}
    assert verdicts == {
        "bl.cli.test": ("not_listed", None),
        "gone.cli.test": ("unknown", "zone_unhealthy"),
    }
    assert doc["zones"][1]["reason"] == "refused"


def test_unreachable_resolver_exits_3_never_0(silent_udp_port: str, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[dns]\ntimeout = 0.2\nattempts = 1\n")
    code, doc = check_json(
        "192.0.2.1",
        "--config",
        str(config),
        "--nameserver",
        silent_udp_port,
        "--zone",
        "bl.cli.test",
    )
    assert code == 3
    assert doc["targets"][0]["dnsbl"][0]["verdict"] == "unknown"
    # The table for people, through a pipe: text printed as it is (not read as markup:
    # "[dns]" stays), and columns wide enough to read the reason whole.
    human = run(
        "check", "--checks", "dnsbl", "192.0.2.1", "--config", str(config),
        "--nameserver", silent_udp_port, "--zone", "bl.cli.test",
    )  # fmt: skip
    assert human.returncode == 3
    assert "(see [dns] nameservers;" in human.stdout
    assert "zone_unhealthy" in human.stdout


def test_targets_file_with_comments_and_domain_targets(server: NsdServer, tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("# sending IPs\n192.0.2.10\n\n192.0.2.1  # clean\nwww.bad.example\n")
    config = tmp_path / "c.toml"
    config.write_text(
        '[[dnsbl.custom_zones]]\nid = "dom.cli.test"\nkind = "domain"\nseverity = "critical"\n'
    )
    code, doc = check_json(
        "--targets-file",
        str(targets),
        "--config",
        str(config),
        "--nameserver",
        server.address,
        "--zone",
        "bl.cli.test",
        "--zone",
        "dom.cli.test",
    )
    assert code == 1
    by_target = {t["target"]: t for t in doc["targets"]}
    assert list(by_target) == ["192.0.2.10", "192.0.2.1", "www.bad.example"]
    assert by_target["www.bad.example"]["kind"] == "domain"
    (domain_result,) = by_target["www.bad.example"]["dnsbl"]  # no IP list for a domain
    assert domain_result["zone"] == "dom.cli.test"
    assert domain_result["verdict"] == "listed"
    assert domain_result["severity"] == "critical"


def test_invalid_targets_are_a_usage_error_naming_each_line(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("192.0.2.1\nnot a host\nco.uk\n")
    proc = run("check", "--targets-file", str(targets), "--nameserver", "127.0.0.1:1")
    assert proc.returncode == 2
    assert f"{targets}:2" in proc.stderr
    assert f"{targets}:3" in proc.stderr
    assert "public suffix" in proc.stderr


def test_broken_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[dns]\nnameservers = ["resolver.example"]\ntimeout = -1\n'
        '[dnsbl]\ninterval = "soon"\nzonez = []\n'
    )
    proc = run("config", "check", str(config))
    assert proc.returncode == 2
    for path in ("dns.nameservers", "dns.timeout", "dnsbl.interval", "dnsbl.zonez"):
        assert path in proc.stderr
    assert run("check", "192.0.2.1", "--config", str(config)).returncode == 2


def test_a_custom_zone_whose_test_point_is_no_address_is_a_config_error(tmp_path: Path) -> None:
    # It used to pass `config check` and then crash every zone's self-test.
    config = tmp_path / "bad.toml"
    config.write_text(
        '[dnsbl]\nzones = ["crash.test"]\n'
        '[[dnsbl.custom_zones]]\nid = "crash.test"\ntest_listed = ["notanip"]\n'
    )
    proc = run("config", "check", str(config))
    assert proc.returncode == 2
    assert "test_listed 'notanip' is not an IPv4 address" in proc.stderr
    proc = run("check", "192.0.2.1", "--config", str(config))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_weak_or_shared_secrets_are_config_errors_named_by_the_file(tmp_path: Path) -> None:
    config = tmp_path / "secrets.toml"
    config.write_text(
        '[http]\ningest_token = "one-token-for-both-roles-123"\n'
        'admin_token = "one-token-for-both-roles-123"\n[privacy]\npseudonym_key = "k"\n'
    )
    proc = run("config", "check", str(config))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"delivermon: {config}: 2 problem(s):")
    assert "privacy.pseudonym_key: at least 16 bytes" in proc.stderr
    assert "http.ingest_token and http.admin_token are the same token" in proc.stderr


def test_unknown_option_is_a_usage_error() -> None:
    assert run("check", "--no-such-flag", "192.0.2.1").returncode == 2


def test_dqs_key_from_the_environment_is_used_and_never_printed(
    server: NsdServer, tmp_path: Path
) -> None:
    config = tmp_path / "dqs.toml"
    config.write_text('[dnsbl.keys]\nspamhaus_dqs = "env:TEST_DQS_KEY"\n')
    args = (
        "192.0.2.10",
        "--config",
        str(config),
        "--nameserver",
        server.address,
        "--zone",
        "zen.dq.spamhaus.net",
        "--log-level",
        "DEBUG",
    )
    proc = run("check", "--json", "--checks", "dnsbl", *args, env={"TEST_DQS_KEY": KEY})
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["targets"][0]["dnsbl"][0]["zone"] == "zen.dq.spamhaus.net"
    human = run("check", "--checks", "dnsbl", *args, env={"TEST_DQS_KEY": KEY})
    for output in (proc.stdout, proc.stderr, human.stdout, human.stderr):
        assert KEY not in output
    missing = run("check", "--checks", "dnsbl", *args)
    assert missing.returncode == 2
    assert "spamhaus_dqs" in missing.stderr


def test_human_report_shows_listings_and_a_summary(server: NsdServer) -> None:
    proc = run(
        "check",
        "--checks",
        "dnsbl",
        "192.0.2.10",
        "192.0.2.1",
        "--nameserver",
        server.address,
        "--zone",
        "bl.cli.test",
        env={"COLUMNS": "200"},
    )
    assert proc.returncode == 1
    assert "listed for testing" in proc.stdout
    assert "1 listed" in proc.stdout
    assert "1 target(s) clean" in proc.stdout


@pytest.mark.parametrize("show_all", [False, True], ids=["listings", "all"])
def test_the_summary_counts_clean_targets_from_verdicts_not_rows(
    server: NsdServer, show_all: bool
) -> None:
    # --all shows the clean rows too, which used to make a clean target count as not
    # clean; an IPv6 address no IPv4 list applies to was counted clean on nothing.
    args = ["192.0.2.1", "2001:db8::10", "--nameserver", server.address, "--zone", "bl.cli.test"]
    proc = run(
        "check", "--checks", "dnsbl", *args, *(["--all"] if show_all else []),
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "1 target(s) clean on every zone asked, 1 asked no zone" in proc.stdout


def test_config_domains_and_sending_ips_are_the_default_targets(
    server: NsdServer, tmp_path: Path
) -> None:
    config = tmp_path / "delivermon.toml"
    config.write_text(
        f'[dns]\nnameservers = ["{server.address}"]\n[dnsbl]\nzones = ["bl.cli.test"]\n'
        '[[domains]]\nname = "example.com"\nsending_ips = ["192.0.2.10"]\n'
    )
    code, doc = check_json(cwd=tmp_path)  # ./delivermon.toml is found without --config
    assert code == 1
    assert [t["target"] for t in doc["targets"]] == ["example.com", "192.0.2.10"]


def test_zones_command_self_tests_the_catalogue(server: NsdServer) -> None:
    proc = run("zones", "--json", "--nameserver", server.address)
    assert proc.returncode == 3  # most catalogue zones are not served here: unhealthy
    zones = {z["zone"]: z for z in json.loads(proc.stdout)["zones"]}
    assert zones["zen.spamhaus.org"]["status"].startswith("ipv4 healthy")
    assert zones["bl.spamcop.net"]["healthy"] is False
    assert zones["zen.dq.spamhaus.net"]["status"] == "no key configured"
    assert not any("sorbs" in name for name in zones)


def test_zones_command_lists_configured_generic_zones_too(
    server: NsdServer, tmp_path: Path
) -> None:
    # A configured name that is neither in the catalogue nor custom is a generic list the
    # daemon asks: `zones --config` left it out.
    config = tmp_path / "delivermon.toml"
    config.write_text('[dnsbl]\nzones = ["bl.cli.test"]\n')
    proc = run("zones", "--json", "--nameserver", server.address, "--config", str(config))
    zones = {z["zone"]: z for z in json.loads(proc.stdout)["zones"]}
    assert zones["bl.cli.test"]["healthy"] is True
    config.write_text('[dns.rate_limits]\n"zen.spamhuas.org" = 5\n')
    proc = run("zones", "--no-test", "--config", str(config))
    assert proc.returncode == 2
    assert "did you mean 'zen.spamhaus.org'" in proc.stderr


def test_debug_logging_never_enables_aioimaplib_debug_output() -> None:
    import logging

    from monitor.cli.main import main

    # `config check` configures logging like every command; --log-level DEBUG on top.
    main(["--log-level", "DEBUG", "config", "check", "examples/delivermon.toml"])
    assert logging.getLogger("aioimaplib").getEffectiveLevel() == logging.WARNING


def test_debug_logging_does_not_print_the_stored_rows(tmp_path: Path) -> None:
    """At --log-level DEBUG aiosqlite logs every statement with its bound values; the
    daemon's own DEBUG lines come through, aiosqlite's (the stored report, here with
    store_raw) do not."""
    from dmarcreports import Row, aggregate_xml

    report = tmp_path / "report.xml"
    report.write_bytes(aggregate_xml([Row("192.0.2.77", 3)], report_id="debug-rows-1"))
    config = tmp_path / "delivermon.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n'
        f'[privacy]\npseudonym_key = "{"ab" * 16}"\nstore_raw = true\n'
    )
    proc = run("--log-level", "DEBUG", "ingest", "dmarc", "--config", str(config), str(report))
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG" in proc.stderr  # the level took effect
    assert "DEBUG aiosqlite" not in proc.stderr
    assert "192.0.2.77" not in proc.stderr
    assert "debug-rows-1" not in proc.stderr


def test_a_reader_that_goes_away_is_exit_141_without_a_traceback(tmp_path: Path) -> None:
    """`delivermon zones | head -1`: the pipe's read end is closed before delivermon
    writes (it is still starting), so its first write meets EPIPE. No traceback, and not
    exit 1 or 3, which mean "problems found" and "could not tell"."""
    import subprocess

    from cli import delivermon_command

    proc = subprocess.Popen(
        [*delivermon_command(), "zones", "--no-test"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, err
    assert b"Traceback" not in err
    assert b"BrokenPipe" not in err


def test_without_a_config_file_the_defaults_are_said_and_delivermon_config_is_read(
    tmp_path: Path,
) -> None:
    """From a directory with no delivermon.toml, a command says it runs on the built-in
    defaults; $DELIVERMON_CONFIG names the file when --config does not (the image sets it)."""
    proc = run("zones", "--no-test", "--json", cwd=tmp_path)
    assert proc.returncode in (0, 3), proc.stderr
    assert "no config file (--config, $DELIVERMON_CONFIG, or ./delivermon.toml" in proc.stderr
    assert "using the built-in defaults" in proc.stderr
    config = tmp_path / "elsewhere.toml"
    config.write_text("[dns]\ntimout = 1.0\n")  # a typo: refused, so the file was read
    proc = run("zones", "--no-test", cwd=tmp_path, env={"DELIVERMON_CONFIG": str(config)})
    assert proc.returncode == 2, proc.stderr
    assert "dns.timout" in proc.stderr
    classify = run("bounce", "classify", "550 5.1.1 user unknown", cwd=tmp_path)
    assert "no config file" not in classify.stderr  # it needs none


@pytest.mark.parametrize(
    "command",
    [
        ["config", "check", "delivermon.toml"],
        ["zones", "--no-test"],
        ["bounce", "classify", "550 5.1.1 user unknown"],
    ],
    ids=["config-check", "zones", "bounce-classify"],
)
def test_an_unknown_log_format_in_the_environment_is_a_usage_error(
    command: list[str], tmp_path: Path
) -> None:
    # argparse checks no default against its choices: "xml" went through to the log
    # set-up and every command died with a ValueError traceback, exit 1.
    (tmp_path / "delivermon.toml").write_text('[log]\nlevel = "info"\n')
    done = run(*command, cwd=tmp_path, env={"DELIVERMON_LOG_FORMAT": "xml"})
    assert done.returncode == 2, done.stderr
    assert done.stderr == "delivermon: DELIVERMON_LOG_FORMAT must be text or json, got 'xml'\n"


def test_the_log_format_from_the_environment_applies_in_any_case(tmp_path: Path) -> None:
    (tmp_path / "delivermon.toml").write_text('[log]\nlevel = "info"\n')
    done = run(
        "--log-level", "debug", "config", "check", "delivermon.toml",
        cwd=tmp_path, env={"DELIVERMON_LOG_FORMAT": "JSON"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert all(json.loads(line) for line in done.stderr.splitlines())
