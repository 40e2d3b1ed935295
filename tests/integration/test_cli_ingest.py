"""``delivermon ingest arf`` as a user runs it: the console script, a maildir, stdin, a real store.

The ARF corpus is copied into a maildir; ingesting it twice stores each report
once; a non-ARF file is a refused line and exit 1; a missing path is exit 2.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli import run_cli
from sqlitefile import stored_reports

PLAIN = b"From: <news@sender.example>\r\nTo: <someone@gmail.com>\r\nSubject: hi\r\n\r\nHello.\r\n"


def run(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=120, **options)  # a whole corpus takes a while


def lines(proc: subprocess.CompletedProcess[str]) -> list[list[str]]:
    """The per-message lines (tab-separated), without the summary."""
    return [line.split("\t") for line in proc.stdout.splitlines() if "\t" in line]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory whose config keeps the store at a relative path (data/ not made)."""
    (tmp_path / "delivermon.toml").write_text('[store]\nurl = "sqlite:///data/delivermon.db"\n')
    return tmp_path


@pytest.fixture
def corpus_reports(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "arf").glob("*.eml"))


@pytest.fixture
def maildir(tmp_path: Path, corpus_reports: list[Path]) -> Path:
    """The corpus as a maildir: half in new/, half in cur/ (with flags), tmp/ ignored."""
    box = tmp_path / "fbl"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for index, path in enumerate(corpus_reports):
        name = f"{1764000000 + index}.M{index}P1.host"
        if index % 2:
            shutil.copy(path, box / "cur" / f"{name}:2,S")
        else:
            shutil.copy(path, box / "new" / name)
    (box / "tmp" / "being-delivered").write_bytes(b"partial")
    return box


def test_maildir_is_stored_then_all_duplicates_with_the_key_beside_the_database(
    workdir: Path, maildir: Path, corpus_reports: list[Path]
) -> None:
    first = run("ingest", "arf", str(maildir), cwd=workdir)
    assert first.returncode == 0, first.stderr
    rows = lines(first)
    assert len(rows) == len(corpus_reports)
    assert {row[1] for row in rows} == {"stored"}
    assert all(len(row) == 4 and row[2] and row[3] for row in rows)  # campaign, feedback type
    n = len(corpus_reports)
    assert first.stdout.splitlines()[-1] == (f"{n} input(s): {n} stored, 0 duplicate, 0 refused")

    again = run("ingest", "arf", str(maildir), cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert {row[1] for row in lines(again)} == {"duplicate"}
    assert again.stdout.splitlines()[-1].endswith(f"0 stored, {n} duplicate, 0 refused")

    db = workdir / "data" / "delivermon.db"
    assert stored_reports(db) == n
    key = workdir / "data" / "pseudonym.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_non_arf_file_is_a_refused_line_and_exit_1(
    workdir: Path, corpus_reports: list[Path]
) -> None:
    plain = workdir / "plain.eml"
    plain.write_bytes(PLAIN)
    proc = run("ingest", "arf", str(corpus_reports[0]), str(plain), cwd=workdir)
    assert proc.returncode == 1
    stored, refused = lines(proc)
    assert stored[1] == "stored"
    assert refused[:2] == [str(plain), "refused"]
    assert refused[2].startswith("not_multipart_report:")
    assert "someone@gmail.com" not in proc.stdout + proc.stderr
    assert stored_reports(workdir / "data" / "delivermon.db") == 1


def test_json_output_is_one_object_per_message_with_the_kinds_fields(
    workdir: Path, corpus_reports: list[Path]
) -> None:
    plain = workdir / "plain.eml"
    plain.write_bytes(PLAIN)
    proc = run("ingest", "arf", "--json", str(corpus_reports[0]), str(plain), cwd=workdir)
    assert proc.returncode == 1
    stored, refused = json.loads(proc.stdout)
    assert (stored["path"], stored["status"], stored["reason"]) == (
        str(corpus_reports[0]),
        "stored",
        None,
    )
    assert stored["campaign"]
    assert stored["feedback_type"]
    assert refused == {
        "path": str(plain),
        "status": "refused",
        "reason": "not_multipart_report",
        "campaign": None,
        "feedback_type": None,
    }
    again = run("ingest", "arf", "--json", str(corpus_reports[0]), cwd=workdir)
    assert [d["status"] for d in json.loads(again.stdout)] == ["duplicate"]


def test_stdin_dash_reads_one_message(workdir: Path, corpus_reports: list[Path]) -> None:
    raw = corpus_reports[0].read_bytes()
    proc = run("ingest", "arf", "-", cwd=workdir, stdin=raw)
    assert proc.returncode == 0, proc.stderr
    ((label, status, _campaign, _type),) = lines(proc)
    assert (label, status) == ("-", "stored")
    again = run("ingest", "arf", "-", cwd=workdir, stdin=raw)
    assert lines(again)[0][1] == "duplicate"


def test_configured_pseudonym_key_from_the_environment_is_used(
    tmp_path: Path, corpus_reports: list[Path]
) -> None:
    db = tmp_path / "store" / "delivermon.db"
    db.parent.mkdir()
    config = tmp_path / "custom.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n[privacy]\npseudonym_key = "env:TEST_PSEUDONYM_KEY"\n'
    )
    proc = run(
        "ingest",
        "arf",
        "--config",
        str(config),
        str(corpus_reports[0]),
        cwd=tmp_path,
        env={"TEST_PSEUDONYM_KEY": "k" * 32},
    )
    assert proc.returncode == 0, proc.stderr
    assert not (db.parent / "pseudonym.key").exists()
    assert stored_reports(db) == 1


def test_unset_pseudonym_key_variable_is_a_config_error_not_a_new_key(
    workdir: Path, corpus_reports: list[Path]
) -> None:
    config = workdir / "env-key.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///data/delivermon.db"\n'
        '[privacy]\npseudonym_key = "env:DELIVERMON_TEST_UNSET_KEY"\n'
    )
    proc = run("ingest", "arf", "--config", str(config), str(corpus_reports[0]), cwd=workdir)
    assert proc.returncode == 2
    assert "DELIVERMON_TEST_UNSET_KEY" in proc.stderr
    assert not (workdir / "data" / "pseudonym.key").exists()


@pytest.mark.parametrize(
    "make_args",
    [
        pytest.param(lambda d: ["missing.eml"], id="nonexistent-path"),
        pytest.param(lambda d: [str(d)], id="directory-not-maildir"),
        pytest.param(lambda d: ["-", "-"], id="stdin-twice"),
    ],
)
def test_usage_errors_exit_2_and_store_nothing(
    workdir: Path, make_args: Callable[[Path], list[str]]
) -> None:
    (workdir / "plain-dir").mkdir()
    proc = run("ingest", "arf", *make_args(workdir / "plain-dir"), cwd=workdir, stdin=b"")
    assert proc.returncode == 2
    assert proc.stderr.startswith("delivermon: ")
    assert proc.stdout == ""
    assert not (workdir / "data").exists()


@pytest.mark.parametrize("kind", ["arf", "dmarc", "bounce"])
def test_a_store_that_cannot_be_opened_exits_1_not_2(tmp_path: Path, kind: str) -> None:
    """The input is fine and so is the config: the store (here a file that is no SQLite
    database) is what failed, so it is exit 1 as for `run` and `subject`, not "usage"."""
    (tmp_path / "corrupt.db").write_bytes(b"this is not a SQLite database" * 100)
    key = "a-pseudonym-key-for-the-cli-tests"
    (tmp_path / "delivermon.toml").write_text(
        f'[store]\nurl = "sqlite:///corrupt.db"\n[privacy]\npseudonym_key = "{key}"\n'
    )
    (tmp_path / "plain.eml").write_bytes(PLAIN)
    proc = run("ingest", kind, "plain.eml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "cannot open the store" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_nonexistent_path_message_names_it(workdir: Path) -> None:
    proc = run("ingest", "arf", "missing.eml", cwd=workdir)
    assert proc.returncode == 2
    assert "missing.eml: no such file or directory" in proc.stderr


def test_help_states_the_exit_codes(workdir: Path) -> None:
    proc = run("ingest", "arf", "--help", cwd=workdir)
    assert proc.returncode == 0
    assert "1  at least one message was refused" in proc.stdout
    assert "2  usage or configuration error" in proc.stdout
