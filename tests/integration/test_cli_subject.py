"""``delivermon subject export|erase`` as an operator runs it: the console script against a
config file and a real SQLite store; JSON out, the address never, exit codes 0 and 2."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli import run_cli as run

from monitor.model.events import Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store import ReportRecord, open_store

KEY = "a-pseudonym-key-for-the-cli-tests"
NOW = dt.datetime(2026, 11, 28, 12, 30, tzinfo=dt.UTC)
ALICE = "alice@example.com"


def write_config(directory: Path, text: str) -> Path:
    path = directory / "delivermon.toml"
    path.write_text(text, "utf-8")
    return path


async def _seed(url: str, pseudonymizer: Pseudonymizer) -> None:
    store = await open_store(url)
    try:
        await store.add_report(
            ReportRecord(
                raw_sha256="cd" * 32,
                received_at=NOW,
                feedback_type="abuse",
                campaign="spring",
                provider=Provider.YAHOO,
                reporter="yahoo.com",
                recipients=(ALICE,),
            ),
            [Event(EventType.COMPLAINT, "spring", NOW, Source.ARF, recipient=ALICE)],
            pseudonymizer,
        )
        await store.add_events(
            [Event(EventType.SENT, "spring", NOW, Source.API, recipient=ALICE)], pseudonymizer
        )
    finally:
        await store.close()


def seed(url: str, pseudonymizer: Pseudonymizer) -> None:
    asyncio.run(_seed(url, pseudonymizer))


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    assert "alice" not in proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    """A config with a literal key and an absolute SQLite path, seeded with Alice's data."""
    url = f"sqlite:///{tmp_path / 'db' / 'delivermon.db'}"
    (tmp_path / "db").mkdir()
    seed(url, Pseudonymizer(KEY.encode()))
    return write_config(tmp_path, f'[store]\nurl = "{url}"\n[privacy]\npseudonym_key = "{KEY}"\n')


def test_export_prints_the_subjects_data_as_json(configured: Path) -> None:
    doc = as_json(
        run("subject", "export", ALICE, "--config", str(configured), cwd=configured.parent)
    )
    assert [r["feedback_type"] for r in doc["reports"]] == ["abuse"]
    assert sorted(e["type"] for e in doc["events"]) == ["complaint", "sent"]
    assert doc["suppressed"] is True
    assert doc["subject"] == Pseudonymizer(KEY.encode()).pseudonym(ALICE)[:12]


def test_erase_prints_what_was_removed_and_keeps_the_suppression(configured: Path) -> None:
    cwd = configured.parent
    doc = as_json(run("subject", "erase", ALICE, "--config", str(configured), cwd=cwd))
    assert doc["removed"] == {"reports": 1, "events": 2, "raw_copies": 0}
    assert doc["suppression_kept"] is True
    after = as_json(
        run("subject", "export", "Alice@Example.com", "--config", str(configured), cwd=cwd)
    )
    assert (after["reports"], after["events"], after["suppressed"]) == ([], [], True)


def test_the_address_can_come_on_stdin(configured: Path) -> None:
    proc = run(
        "subject",
        "export",
        "-",
        "--config",
        str(configured),
        cwd=configured.parent,
        stdin=f"{ALICE}\n",
    )
    assert len(as_json(proc)["events"]) == 2


@pytest.mark.parametrize("address", ["nobody", "alice@", "@example.com"])
def test_a_non_address_exits_2_without_echoing_it(configured: Path, address: str) -> None:
    proc = run("subject", "erase", address, "--config", str(configured), cwd=configured.parent)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "not an e-mail address" in proc.stderr
    assert address not in proc.stderr


@pytest.mark.parametrize(
    "config",
    [
        pytest.param('[store]\nurl = "mysql://db/x"\n', id="unsupported-store-url"),
        pytest.param(
            '[store]\nurl = "postgresql://u@127.0.0.1:1/db"\n', id="postgresql-without-a-key"
        ),
        pytest.param(
            '[privacy]\npseudonym_key = "env:DELIVERMON_TEST_UNSET_KEY"\n', id="unset-key-variable"
        ),
        pytest.param('[privacy]\npseudonym_key = "short"\n', id="short-key"),
        pytest.param("[store\n", id="not-toml"),
    ],
)
def test_a_config_error_exits_2(tmp_path: Path, config: str) -> None:
    path = write_config(tmp_path, config)
    proc = run("subject", "export", ALICE, "--config", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "alice" not in proc.stderr


def start_store(directory: Path, relative_url: str) -> Pseudonymizer:
    """What a first start of the daemon leaves in ``directory``: the store and, beside
    it, the key file (made the way the daemon makes it)."""
    from monitor.store.keyfile import store_key

    url = f"sqlite:///{directory / relative_url.removeprefix('sqlite:///')}"
    asyncio.run(_close(url))
    return store_key(url, None).pseudonymizer


async def _close(url: str) -> None:
    await (await open_store(url)).close()


def test_without_a_configured_key_the_one_beside_a_relative_database_is_used(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, '[store]\nurl = "sqlite:///var/lib/delivermon.db"\n')
    pseudonymizer = start_store(tmp_path, "sqlite:///var/lib/delivermon.db")
    key_file = tmp_path / "var" / "lib" / "pseudonym.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    seed(f"sqlite:///{tmp_path / 'var' / 'lib' / 'delivermon.db'}", pseudonymizer)
    first = as_json(run("subject", "export", ALICE, "--config", str(config), cwd=tmp_path))
    assert first["subject"] == pseudonymizer.pseudonym(ALICE)[:12]
    assert first["suppressed"] is True
    second = as_json(run("subject", "erase", ALICE, "--config", str(config), cwd=tmp_path))
    assert second["subject"] == first["subject"]
    assert second["removed"] == {"reports": 1, "events": 2, "raw_copies": 0}


@pytest.mark.parametrize("command", ["export", "erase"])
def test_a_store_that_does_not_exist_is_refused_not_made(tmp_path: Path, command: str) -> None:
    """Run from the wrong directory, a relative SQLite URL names no store: an empty new one
    would answer a data-subject request with "nothing stored". Nothing is left behind."""
    config = write_config(tmp_path, '[store]\nurl = "sqlite:///data/delivermon.db"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run("subject", command, ALICE, "--config", str(config), cwd=elsewhere)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "no store at sqlite+aiosqlite:///data/delivermon.db" in proc.stderr
    assert str(elsewhere / "data" / "delivermon.db") in proc.stderr
    assert list(elsewhere.iterdir()) == []


def test_an_empty_database_is_refused_not_migrated(tmp_path: Path) -> None:
    """A file that holds no delivermon schema (created by hand, or by another tool)."""
    database = tmp_path / "empty.db"
    sqlite3.connect(database).close()
    config = write_config(
        tmp_path, f'[store]\nurl = "sqlite:///{database}"\n[privacy]\npseudonym_key = "{KEY}"\n'
    )
    proc = run("subject", "export", ALICE, "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "holds no delivermon data" in proc.stderr
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_a_lost_key_file_is_refused_until_restored_or_accepted(tmp_path: Path) -> None:
    """The key file beside the database is lost: a new key would make pseudonyms that match
    nobody (Alice would read as never suppressed). It is refused, and no new key file is
    left behind; restoring the file, or `subject accept-key`, lets the store be used."""
    config = write_config(tmp_path, '[store]\nurl = "sqlite:///data/delivermon.db"\n')
    seed(
        f"sqlite:///{tmp_path / 'data' / 'delivermon.db'}",
        start_store(tmp_path, "sqlite:///data/delivermon.db"),
    )
    first = as_json(run("subject", "export", ALICE, "--config", str(config), cwd=tmp_path))
    key_file = tmp_path / "data" / "pseudonym.key"
    saved = key_file.read_bytes()
    key_file.unlink()

    refused = run("subject", "export", ALICE, "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "pseudonym.key is missing, and the store recorded another key" in refused.stderr
    assert "subject accept-key" in refused.stderr
    assert not key_file.exists()
    # the same for the daemon: it refuses to start
    daemon = run("run", "--config", str(config), "--listen", "127.0.0.1:23640", cwd=tmp_path)
    assert daemon.returncode == 2, daemon.stderr
    assert "pseudonym.key is missing" in daemon.stderr
    assert not key_file.exists()

    key_file.write_bytes(saved)  # restored from a backup
    key_file.chmod(0o600)
    back = as_json(run("subject", "export", ALICE, "--config", str(config), cwd=tmp_path))
    assert back["subject"] == first["subject"]
    assert back["suppressed"] is True

    key_file.unlink()  # lost for good: the operator accepts a new key
    accepted = run("subject", "accept-key", "--config", str(config), cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert key_file.exists()
    after = as_json(run("subject", "export", ALICE, "--config", str(config), cwd=tmp_path))
    assert after["subject"] != first["subject"]
    assert (after["events"], after["suppressed"]) == ([], False)  # what the old key made


def test_a_changed_configured_key_is_refused(configured: Path) -> None:
    cwd = configured.parent
    as_json(run("subject", "export", ALICE, "--config", str(configured), cwd=cwd))  # recorded
    text = configured.read_text().replace(KEY, "another-pseudonym-key-entirely")
    configured.write_text(text)
    proc = run("subject", "erase", ALICE, "--config", str(configured), cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    assert "the pseudonym key ([privacy] pseudonym_key) is not the one" in proc.stderr
    assert "another-pseudonym-key" not in proc.stderr
    configured.write_text(text.replace("another-pseudonym-key-entirely", KEY))
    doc = as_json(run("subject", "erase", ALICE, "--config", str(configured), cwd=cwd))
    assert doc["removed"] == {"reports": 1, "events": 2, "raw_copies": 0}
