"""``delivermon ingest arf PATH...``: feed reports from files, maildirs or stdin into the store.

Every message goes through the same path as ``POST /api/v1/feedback/arf``
(``monitor.ingest.service.ingest_arf``), so a report counts the same whichever
channel brought it, and a report ingested twice counts once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from monitor.config import Config
from monitor.ingest.errors import IngestError
from monitor.model.errors import ConfigError, UsageError
from monitor.model.privacy import PrivacyError, Pseudonymizer

if TYPE_CHECKING:
    from monitor.store import SqlStore

# The store (SQLAlchemy, Alembic) and the ingestion service are imported when an ingest
# command runs, not when the CLI starts: `delivermon check` should not pay for them.

__all__ = ["add_commands", "open_feedback_store"]

_T = TypeVar("_T")
Run = Callable[[Callable[[], Coroutine[Any, Any, _T]]], _T]

EXIT_OK = 0
EXIT_REFUSED = 1
STDIN = "-"

_EPILOG = """\
PATH is a message file, a maildir (every message in its cur/ and new/), or - for stdin.
Each message prints one line: PATH, stored / duplicate / refused (with the reason),
campaign and feedback type; then a summary.

exit codes:
  0  every message was stored or was already stored (duplicate)
  1  at least one message was refused (not an ARF report, or malformed)
  2  usage or configuration error (a PATH that does not exist, an unusable store)
"""


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register subcommands; each sets ``handler(args, config, run) -> exit code``."""
    ingest = sub.add_parser("ingest", help="ingest feedback into the store")
    ingest_sub = ingest.add_subparsers(dest="ingest_command", required=True)
    arf = ingest_sub.add_parser(
        "arf",
        help="ingest ARF feedback reports from files, maildirs or stdin",
        description="Ingest ARF feedback-loop reports (RFC 5965) into the store.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(arf)
    arf.add_argument("paths", nargs="+", metavar="PATH", help="file, maildir, or - for stdin")
    arf.set_defaults(handler=_cmd_ingest_arf)


@dataclass(frozen=True, slots=True)
class _Message:
    """One message to ingest: where it is (``-`` for stdin) and how it is shown."""

    label: str
    path: Path | None  # None: stdin


@dataclass(slots=True)
class _Tally:
    stored: int = 0
    duplicate: int = 0
    refused: int = 0


def _cmd_ingest_arf(args: argparse.Namespace, config: Config, run: Run[_Tally]) -> int:
    messages = list(_messages(args.paths))
    tally = run(lambda: _ingest_all(messages, config, sys.stdout))
    total = tally.stored + tally.duplicate + tally.refused
    print(
        f"{total} message(s): {tally.stored} stored, {tally.duplicate} duplicate, "
        f"{tally.refused} refused"
    )
    return EXIT_REFUSED if tally.refused else EXIT_OK


def _messages(paths: list[str]) -> Iterator[_Message]:
    """Every message named by the arguments, all checked before anything is ingested.

    Raises:
        UsageError: a path that does not exist, a directory that is not a maildir,
            or ``-`` given twice.
    """
    found: list[_Message] = []
    problems: list[str] = []
    if paths.count(STDIN) > 1:
        problems.append("- (stdin) may be given only once")
    for text in paths:
        if text == STDIN:
            found.append(_Message(STDIN, None))
            continue
        path = Path(text)
        if path.is_dir():
            folders = [path / "cur", path / "new"]
            if not any(f.is_dir() for f in folders):
                problems.append(f"{text}: a directory but not a maildir (no cur/ or new/)")
                continue
            for folder in folders:
                if folder.is_dir():
                    found += [
                        _Message(str(p), p)
                        for p in sorted(folder.iterdir())
                        if p.is_file() and not p.name.startswith(".")
                    ]
        elif path.exists():
            found.append(_Message(text, path))
        else:
            problems.append(f"{text}: no such file or directory")
    if problems:
        raise UsageError("cannot ingest:\n" + "\n".join(f"  - {p}" for p in problems))
    return iter(found)


async def _ingest_all(messages: list[_Message], config: Config, out: TextIO) -> _Tally:
    from monitor.store import StoreError  # deferred: see the note at the top

    store, pseudonymizer = await open_feedback_store(config)
    tally = _Tally()
    try:
        for message in messages:
            line = await _ingest_one(message, store, pseudonymizer, config, tally)
            print(line, file=out, flush=True)
    except StoreError as exc:  # the store failed mid-run: every line printed was committed
        raise UsageError(str(exc)) from None
    finally:
        await store.close()
    return tally


async def _ingest_one(
    message: _Message,
    store: SqlStore,
    pseudonymizer: Pseudonymizer,
    config: Config,
    tally: _Tally,
) -> str:
    from monitor.ingest.service import ingest_arf  # deferred: see the note at the top

    try:
        raw = await asyncio.to_thread(_read, message)
    except OSError as exc:
        tally.refused += 1
        return f"{message.label}\trefused\tunreadable: {exc.strerror or type(exc).__name__}"
    try:
        result = await ingest_arf(
            raw,
            store=store,
            pseudonymizer=pseudonymizer,
            campaign_headers=tuple(config.feedback.campaign_headers),
            store_raw=config.privacy.store_raw,
            now=dt.datetime.now(dt.UTC),
        )
    except IngestError as exc:
        tally.refused += 1
        return f"{message.label}\trefused\t{exc.reason}: {exc.message}"
    except PrivacyError:
        tally.refused += 1
        return f"{message.label}\trefused\tinvalid_recipient: a recipient is unusable"
    status = "duplicate" if result.duplicate else "stored"
    if result.duplicate:
        tally.duplicate += 1
    else:
        tally.stored += 1
    return f"{message.label}\t{status}\t{result.campaign}\t{result.feedback_type}"


def _read(message: _Message) -> bytes:
    if message.path is None:
        return sys.stdin.buffer.read()
    return message.path.read_bytes()


async def open_feedback_store(config: Config) -> tuple[SqlStore, Pseudonymizer]:
    """The store of ``[store] url`` and the pseudonymizer of ``[privacy]``.

    For a relative SQLite path the data directory is created. Without a configured
    ``pseudonym_key`` the key is the 0600 file beside the database (created once).

    Raises:
        UsageError: the store cannot be opened, or no pseudonym key can be had.
    """
    from monitor.store import StoreError, open_store  # deferred: see the note at the top

    try:
        from monitor.store.keyfile import pseudonymizer_for

        pseudonymizer = pseudonymizer_for(config.store.url, config.privacy.pseudonym_key)
    except ConfigError as exc:
        raise UsageError("; ".join(exc.problems)) from None
    try:
        store = await open_store(config.store.url)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return store, pseudonymizer
