"""``delivermon bounce classify``, ``ingest bounce`` and ``bounce log`` as an operator runs them.

Pins the fixed contracts: the classify document, the ingest document per message with
its statuses (stored, duplicate, refused, not_a_bounce) and exit codes, and a followed
log file read into the store across a rotation.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from cli import delivermon_command, run_cli

GMAIL_DMARC = "auth-dmarc__sisimai__lhost-postfix-70.eml"
AUTOREPLY = "not-a-bounce__sisimai__rfc3834-01.eml"
SPAMHAUS = (
    "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org; "
    "https://www.spamhaus.org/query/ip/192.0.2.10"
)
DEFERRAL = (
    "Dec  5 12:00:01 mx postfix/smtp[101]: 4A1B2C3D: to=<one@gmail.com>, "
    "relay=gmail-smtp-in.l.google.com[192.0.2.27]:25, delay=1, delays=0/0/0/1, dsn=4.7.28, "
    "status=deferred (host gmail-smtp-in.l.google.com[192.0.2.27] said: 421-4.7.28 Gmail has "
    "detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp "
    "(in reply to end of DATA command))"
)


def workdir(tmp_path: Path) -> Path:
    (tmp_path / "delivermon.toml").write_text('[store]\nurl = "sqlite:///data/delivermon.db"\n')
    return tmp_path


def test_classify_json_document() -> None:
    proc = run_cli("bounce", "classify", "--json", SPAMHAUS)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "class": "blocklisted",
        "provider": "other",
        "blocklist": "spamhaus",
        "status": "554",
        "enhanced": "5.7.1",
        "permanent": True,
    }
    stdin = run_cli(
        "bounce", "classify", "--json", "--recipient-domain", "gmail.com", "-", stdin="421 4.7.28"
    )
    assert json.loads(stdin.stdout)["class"] == "reputation_ratelimit"
    assert json.loads(stdin.stdout)["provider"] == "google"
    assert run_cli("bounce", "classify", "-", stdin="").returncode == 2


def test_ingest_bounce_statuses_and_exit_codes(tmp_path: Path, corpus_dir: Path) -> None:
    cwd = workdir(tmp_path)
    bounces = corpus_dir / "bounces"
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"\n\n")
    dmarc, auto = str(bounces / GMAIL_DMARC), str(bounces / AUTOREPLY)

    first = run_cli("ingest", "bounce", "--json", dmarc, auto, cwd=cwd)
    assert first.returncode == 0, first.stderr  # not_a_bounce is an answer, not a refusal
    documents = json.loads(first.stdout)
    assert [(d["status"], d["reason"]) for d in documents] == [
        ("stored", None),
        ("not_a_bounce", "autoreply"),
    ]
    assert documents[0]["bounces"] == [
        {
            "class": "auth_failure_dmarc",
            "provider": "google",
            "blocklist": None,
            "status": "550",
            "enhanced": "5.7.26",
            "permanent": True,
        }
    ]
    assert documents[1]["bounces"] == []
    assert {"path", "status", "reason", "bounces"} <= set(documents[0])

    again = run_cli("ingest", "bounce", "--json", dmarc, str(garbage), cwd=cwd)
    assert again.returncode == 1
    assert [d["status"] for d in json.loads(again.stdout)] == ["duplicate", "refused"]
    assert run_cli("ingest", "bounce", str(tmp_path / "missing"), cwd=cwd).returncode == 2


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_bounce_log_follows_a_rotated_file(tmp_path: Path, stop_signal: signal.Signals) -> None:
    cwd = workdir(tmp_path)
    log = tmp_path / "mail.log"
    log.write_text(DEFERRAL + "\n")
    proc = subprocess.Popen(
        [*delivermon_command(), "bounce", "log", "--follow", "--json", str(log)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        db = cwd / "data" / "delivermon.db"
        _wait_rows(db, 1)
        log.rename(tmp_path / "mail.log.1")
        log.write_text(DEFERRAL.replace("4A1B2C3D", "4A1B2C3E") + "\n")
        _wait_rows(db, 2)
        # Written just before the signal: the command's last pass still reads it.
        with log.open("a") as f:
            f.write(DEFERRAL.replace("4A1B2C3D", "4A1B2C3F") + "\n")
    finally:
        proc.send_signal(stop_signal)
        out, err = _ended(proc)
    assert proc.returncode == 0, err
    assert [json.loads(line)["class"] for line in out.splitlines()] == ["reputation_ratelimit"] * 3
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT provider, bounce_class, deferrals FROM bounce_counters"
        ).fetchall()
    assert rows == [("google", "reputation_ratelimit", 3)]
    assert "@" not in err


def _ended(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[str, str]:
    """The process's output once it exited; killed (and the test failed) if it does not
    exit within ``timeout``, so that no process outlives its test."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"still running {timeout:.0f} s after the signal; stdout {out!r}, stderr {err!r}"
        ) from None


def _wait_rows(db: Path, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    found = conn.execute("SELECT sum(deferrals) FROM bounce_counters").fetchone()
                if found and found[0] and found[0] >= n:
                    return
            except sqlite3.OperationalError:
                pass  # the schema is being created
        time.sleep(0.2)
    raise AssertionError(f"{n} deferral(s) not stored within {timeout}s")


LOCAL = (
    "Dec  5 12:00:02 mx postfix/local[102]: 5B2C3D4E: to=<root@localhost>, relay=local, "
    "delay=0, delays=0/0/0/0, dsn=5.2.2, status=bounced (cannot update mailbox: quota)"
)


def _deferrals(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT sum(deferrals) FROM bounce_counters").fetchone()
    return int(found[0] or 0)


def test_bounce_log_skips_a_local_recipient_and_keeps_the_other_lines(tmp_path: Path) -> None:
    # root@localhost has no dotted domain to pseudonymise: the line used to raise
    # PrivacyError out of the batch, exit 1 with a traceback, and store nothing at all.
    cwd = workdir(tmp_path)
    log = tmp_path / "mail.log"
    log.write_text(DEFERRAL + "\n" + LOCAL + "\n" + DEFERRAL.replace("4A1B2C3D", "4A1B2C3E") + "\n")
    done = run_cli("bounce", "log", str(log), cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert _deferrals(cwd / "data" / "delivermon.db") == 2


def test_bounce_log_reads_stdin_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    # Under the C locale the text layer handed over surrogates, which SQLite could not
    # take: the batch failed with UnicodeEncodeError. Bytes are decoded as files are.
    cwd = workdir(tmp_path)
    line = DEFERRAL.encode().replace(b"unusual rate", b"unusual \xff\xfe rate")
    done = run_cli("bounce", "log", "-", cwd=cwd, stdin=line + b"\n", env={"LC_ALL": "C"})
    assert done.returncode == 0, done.stderr
    assert _deferrals(cwd / "data" / "delivermon.db") == 1


def test_bounce_log_names_a_path_that_is_no_regular_file_as_such(tmp_path: Path) -> None:
    proc = run_cli("bounce", "log", "/dev/null", cwd=tmp_path)
    assert proc.returncode == 2
    assert "/dev/null: not a regular file" in proc.stderr
    missing = run_cli("bounce", "log", "missing.log", cwd=tmp_path)
    assert (missing.returncode, "missing.log: no such file" in missing.stderr) == (2, True)


def test_bounce_log_exits_1_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "corrupt.db").write_bytes(b"this is not a SQLite database" * 100)
    key = "a-pseudonym-key-for-the-cli-tests"
    (tmp_path / "delivermon.toml").write_text(
        f'[store]\nurl = "sqlite:///corrupt.db"\n[privacy]\npseudonym_key = "{key}"\n'
    )
    (tmp_path / "mail.log").write_text("")
    proc = run_cli("bounce", "log", "mail.log", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "cannot open the store" in proc.stderr
