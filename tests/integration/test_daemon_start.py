"""``delivermon run`` refuses to start with a clear message and exit status, and leaks nothing."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from cli import run_cli
from daemon import DaemonProcess, offline_config, wait_for
from dnsserver import pick_free_port


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("run", "--config", str(config), *args)


def assert_exits_1_cleanly(proc: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit status 1 with `message` on stderr, and no traceback or unclosed-resource warning."""
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Unclosed" not in proc.stderr


def test_a_broken_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "delivermon.toml"
    config.write_text(
        '[dnsbl]\ninterval = "often"\n[alerts]\nrisk_level = "scary"\n[cluster]\nshard = "3/2"\n'
    )
    proc = run(config)
    assert proc.returncode == 2
    for key in ("dnsbl.interval", "alerts.risk_level", "cluster.shard"):
        assert key in proc.stderr


def test_an_unreachable_store_exits_1_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "delivermon.toml"
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    config.write_text(
        '[store]\nurl = "postgresql://delivermon@127.0.0.1:1/delivermon"\n'
        '[privacy]\npseudonym_key = "0123456789abcdef0123456789abcdef"\n'
    )
    proc = run(config, "--listen", f"127.0.0.1:{pick_free_port()}")
    assert_exits_1_cleanly(proc, "cannot start: cannot open the store")
    # Where, and the driver's reason (not only its exception's name).
    assert "postgresql+asyncpg://delivermon@127.0.0.1:1/delivermon" in proc.stderr
    assert "Connect call failed" in proc.stderr or "refused" in proc.stderr.lower()


def test_a_store_file_that_cannot_be_created_says_where_and_why(tmp_path: Path) -> None:
    """A missing directory is made (as the key file's is); one that cannot be made, not
    even by root (/proc takes no new directory), is refused with where and why."""
    config = tmp_path / "delivermon.toml"
    missing = Path("/proc/delivermon-no-such-directory/d.db")
    config.write_text(
        f'[store]\nurl = "sqlite:///{missing}"\n'
        '[privacy]\npseudonym_key = "0123456789abcdef0123456789abcdef"\n'
    )
    proc = run(config, "--listen", f"127.0.0.1:{pick_free_port()}")
    assert_exits_1_cleanly(proc, "cannot start: cannot open the store")
    assert f"cannot create {missing.parent}" in proc.stderr


def test_a_taken_port_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "delivermon.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n')
    with DaemonProcess(config) as first:
        proc = run(config, "--listen", f"127.0.0.1:{first.port}")
    assert_exits_1_cleanly(proc, "address already in use")
    assert "choose another [http] listen or --listen" in proc.stderr


def test_a_bad_shard_or_listen_address_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "delivermon.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n')
    for args, expected in (
        ((("--shard", "2/2"),), "shard"),
        ((("--listen", "nowhere"),), "--listen"),
        # as [http] listen refuses them: a host name `run` may fail to resolve, port 0
        ((("--listen", "nohost:22005"),), "--listen must be IP:PORT"),
        ((("--listen", "127.0.0.1:0"),), "--listen must be IP:PORT"),
    ):
        proc = run(config, *args[0])
        assert proc.returncode == 2
        assert expected in proc.stderr
    assert not (tmp_path / "d.db").exists()  # refused before anything was opened


def test_a_malformed_nameserver_option_is_a_usage_error(tmp_path: Path) -> None:
    # Checked when the command line is read, before the config or the store are touched.
    config = tmp_path / "delivermon.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n')
    proc = run(config, "--nameserver", "not-an-ip", "--listen", f"127.0.0.1:{pick_free_port()}")
    assert proc.returncode == 2
    assert "argument --nameserver: nameserver must be an IP address" in proc.stderr
    assert not (tmp_path / "d.db").exists()


def test_config_check_and_run_refuse_a_database_path_under_a_file(tmp_path: Path) -> None:
    """`config check` validates the way `run` starts: a SQLite path below a file (a typo)
    is refused by both, naming store.url, before anything is created."""
    (tmp_path / "a-directory").mkdir()
    config = tmp_path / "delivermon.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "a-directory"}"\n')
    proc = run_cli("config", "check", str(config))
    assert proc.returncode == 2, proc.stderr
    assert f"store.url: {tmp_path / 'a-directory'} is a directory" in proc.stderr
    (tmp_path / "secret.pem").write_text("not a directory\n")
    config = tmp_path / "delivermon.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "secret.pem" / "sub" / "d.db"}"\n')
    for proc in (
        run_cli("config", "check", str(config)),
        run(config, "--listen", f"127.0.0.1:{pick_free_port()}"),
    ):
        assert proc.returncode == 2, proc.stderr
        assert "store.url: cannot create the database directory" in proc.stderr
        assert f"{tmp_path / 'secret.pem'} is not a directory" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_mta_logs_a_directory_is_refused_and_a_missing_file_said(tmp_path: Path) -> None:
    base = f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n[bounces]\n'
    config = tmp_path / "delivermon.toml"
    config.write_text(base + f'mta_logs = ["{tmp_path}"]\n')
    proc = run_cli("config", "check", str(config))
    assert proc.returncode == 2, proc.stderr
    assert f"bounces.mta_logs: {tmp_path} is not a file" in proc.stderr
    config.write_text(base + f'mta_logs = ["{tmp_path / "mail.log"}"]\n')
    proc = run_cli("config", "check", str(config))
    assert proc.returncode == 0, proc.stderr
    assert f"{tmp_path / 'mail.log'} does not exist (yet)" in proc.stderr


def test_a_token_from_an_unset_variable_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "delivermon.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n'
        '[http]\ningest_token = "env:DELIVERMON_TEST_UNSET_TOKEN"\n'
    )
    proc = run_cli("config", "check", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "http.ingest_token names the environment variable DELIVERMON_TEST_UNSET_TOKEN" in (
        proc.stderr
    )
    assert "refuse every request" in proc.stderr


def test_an_unreadable_pinned_certificate_names_the_path_and_why(tmp_path: Path) -> None:
    config = tmp_path / "delivermon.toml"
    missing = tmp_path / "certs" / "nope.pem"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n'
        f'[webhooks.ses]\ntopic_arns = ["arn:aws:sns:us-east-1:123456789012:t"]\n'
        f'certificate_files = ["{missing}"]\n'
    )
    proc = run_cli("config", "check", str(config))
    assert proc.returncode == 2, proc.stderr
    assert f"certificate file '{missing}' cannot be read: No such file or directory" in proc.stderr


def test_a_fatal_signal_leaves_a_traceback_in_the_log(tmp_path: Path) -> None:
    """SIGBUS (SQLite's memory-mapped -shm made unwritable under it does this) killed the
    daemon without a line; now Python's fault handler writes where it was."""
    config = tmp_path / "delivermon.toml"
    config.write_text(offline_config(f"sqlite:///{tmp_path / 'd.db'}"))
    daemon = DaemonProcess(config).start()
    try:
        daemon.signal(signal.SIGBUS)
        wait_for(lambda: "Fatal Python error: Bus error" in daemon.log(), what="the traceback")
    finally:
        daemon.stop()
    assert "Current thread" in daemon.log() or "Thread 0x" in daemon.log()
