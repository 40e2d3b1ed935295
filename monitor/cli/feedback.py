"""``delivermon ingest <kind> PATH...``: feed mail from files, maildirs or stdin into the store.

One subcommand per kind of mail in ``monitor.ingest.kinds.INGEST_KINDS`` (``arf``, ...).
Every message goes through the same path as the kind's HTTP route and the IMAP
poller, so a report counts the same whichever channel brought it, and a report
ingested twice counts once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from monitor.config import Config
from monitor.ingest.errors import IngestError, WrongKindError
from monitor.ingest.kinds import INGEST_KINDS, IngestContext, IngestKind
from monitor.model.errors import CommandError, ConfigError, UsageError
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
PATH is a message file, a maildir (every message in its cur/ and new/), or - for stdin{dirs}.
Each message prints one line: PATH, stored / duplicate / refused (with the reason), then
{fields}; then a summary. With --json: a JSON array, one object per message:
{{"path", "status": "stored"|"duplicate"|"refused"{other}, "reason": null|"<code>", {json}}}.

exit codes:
  0  every message was stored or was already stored (duplicate){other_exit}
  1  at least one message was refused (not of this kind, or malformed), or the store
     could not be opened or failed (what was printed before was stored)
  2  usage or configuration error (a PATH that does not exist, a pseudonym key
     that is not the store's)
"""


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register subcommands; each sets ``handler(args, config, run) -> exit code``."""
    ingest = sub.add_parser("ingest", help="ingest reports and mail into the store")
    ingest_sub = ingest.add_subparsers(dest="ingest_command", required=True)
    for kind in INGEST_KINDS:
        command = ingest_sub.add_parser(
            kind.name,
            help=f"ingest {kind.help} from files, maildirs or stdin",
            description=f"Ingest {kind.help} into the store.",
            epilog=_EPILOG.format(
                dirs=", or a directory (its files)" if kind.plain_directories else "",
                fields=", ".join(kind.cli_columns),
                json=", ".join(f'"{f}"' for f in kind.cli_columns),
                other=f'|"{kind.wrong_kind_status}"' if kind.wrong_kind_status else "",
                other_exit=(
                    f", or is readable mail of another kind ({kind.wrong_kind_status}, "
                    "with the reason: autoreply, delivered, ...)"
                    if kind.wrong_kind_status
                    else ""
                ),
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        common(command)
        command.add_argument(
            "paths", nargs="+", metavar="PATH", help="file, maildir, or - for stdin"
        )
        command.add_argument("--json", action="store_true", help="a JSON array, one per message")
        command.set_defaults(handler=_cmd_ingest, kind=kind)


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
    other: int = 0  # readable mail of another kind, answered as such (not a refusal)
    documents: list[dict[str, object]] = field(default_factory=list)


def _cmd_ingest(args: argparse.Namespace, config: Config, run: Run[_Tally]) -> int:
    kind: IngestKind = args.kind
    messages = list(_messages(args.paths, plain_directories=kind.plain_directories))
    out = None if args.json else sys.stdout
    tally = run(lambda: _ingest_all(kind, messages, config, out))
    if args.json:
        json.dump(tally.documents, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        total = tally.stored + tally.duplicate + tally.refused + tally.other
        other = f", {tally.other} {kind.wrong_kind_status}" if kind.wrong_kind_status else ""
        print(
            f"{total} input(s): {tally.stored} stored, {tally.duplicate} duplicate, "
            f"{tally.refused} refused{other}"
        )
    return EXIT_REFUSED if tally.refused else EXIT_OK


def _messages(paths: list[str], *, plain_directories: bool = False) -> Iterator[_Message]:
    """Every message named by the arguments, all checked before anything is ingested.

    A directory that is not a maildir is its files (recursively, in name order) when
    ``plain_directories``, else a usage error.

    Raises:
        UsageError: a path that does not exist, a directory that is not a maildir
            (unless ``plain_directories``), or ``-`` given twice.
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
            if not any(f.is_dir() for f in folders) and plain_directories:
                found += [
                    _Message(str(p), p)
                    for p in sorted(path.rglob("*"))
                    if p.is_file() and not _hidden(p.relative_to(path))
                ]
                continue
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


def _hidden(relative: Path) -> bool:
    """A file or a folder on its way whose name starts with a dot (.Trash, .DS_Store)."""
    return any(part.startswith(".") for part in relative.parts)


async def _ingest_all(
    kind: IngestKind, messages: list[_Message], config: Config, out: TextIO | None
) -> _Tally:
    from monitor.store import StoreError  # deferred: see the note at the top

    store, pseudonymizer = await open_feedback_store(config)
    tally = _Tally()
    try:
        for message in messages:
            line = await _ingest_one(kind, message, store, pseudonymizer, config, tally)
            if out is not None:
                print(line, file=out, flush=True)
    except StoreError as exc:  # the store failed mid-run: every line printed was committed
        raise CommandError(str(exc)) from None
    finally:
        await store.close()
    return tally


async def _ingest_one(
    kind: IngestKind,
    message: _Message,
    store: SqlStore,
    pseudonymizer: Pseudonymizer,
    config: Config,
    tally: _Tally,
) -> str:
    try:
        raw = await asyncio.to_thread(_read, message)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return _refused(kind, message, tally, "unreadable", why)
    context = IngestContext(
        store=store,
        pseudonymizer=pseudonymizer,
        campaign_headers=tuple(config.feedback.campaign_headers),
        store_raw=config.privacy.store_raw,
        now=dt.datetime.now(dt.UTC),
    )
    try:
        result = await kind.ingest(raw, context)
    except WrongKindError as exc:
        if kind.wrong_kind_status is None:
            return _refused(kind, message, tally, exc.reason, exc.message)
        tally.other += 1
        tally.documents.append(
            {
                "path": message.label,
                "status": kind.wrong_kind_status,
                "reason": exc.reason,
                **_empty(kind),
            }
        )
        return f"{message.label}\t{kind.wrong_kind_status}\t{exc.reason}"
    except IngestError as exc:
        return _refused(kind, message, tally, exc.reason, exc.message)
    except PrivacyError:
        return _refused(kind, message, tally, "invalid_recipient", "a recipient is unusable")
    except Exception as exc:
        from monitor.store import StoreError  # deferred: see the note at the top

        if isinstance(exc, StoreError):
            raise
        # A fault of ours, not of the input: say so for this input, with the traceback
        # for a bug report, and go on, so every input stored so far is still reported.
        print(f"delivermon: internal error on {message.label}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return _refused(kind, message, tally, "internal_error", f"{type(exc).__name__} (a bug)")
    status = "duplicate" if result.duplicate else "stored"
    if result.duplicate:
        tally.duplicate += 1
    else:
        tally.stored += 1
    fields = {name: result.fields.get(name) for name in kind.cli_columns}
    tally.documents.append({"path": message.label, "status": status, "reason": None, **fields})
    return "\t".join([message.label, status, *(_text(v) for v in fields.values())])


def _refused(kind: IngestKind, message: _Message, tally: _Tally, reason: str, why: str) -> str:
    tally.refused += 1
    tally.documents.append(
        {
            "path": message.label,
            "status": "refused",
            "reason": reason,
            **_empty(kind),
        }
    )
    return f"{message.label}\trefused\t{reason}: {why}"


def _empty(kind: IngestKind) -> dict[str, object]:
    return {**dict.fromkeys(kind.cli_columns), **kind.empty_fields}


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _read(message: _Message) -> bytes:
    if message.path is None:
        return sys.stdin.buffer.read()
    return message.path.read_bytes()


async def open_feedback_store(config: Config) -> tuple[SqlStore, Pseudonymizer]:
    """The store of ``[store] url`` and the pseudonymizer of ``[privacy]``.

    For a relative SQLite path the data directory is created. Without a configured
    ``pseudonym_key`` the key is the 0600 file beside the database (created once).

    Raises:
        UsageError: no pseudonym key can be had, or it is not the store's.
        CommandError: the store cannot be opened.
    """
    from monitor.store import StoreError, open_store  # deferred: see the note at the top
    from monitor.store.keyfile import check_store_key, store_key

    try:
        key = store_key(config.store.url, config.privacy.pseudonym_key)
    except ConfigError as exc:
        raise UsageError("; ".join(exc.problems)) from None
    try:
        store = await open_store(config.store.url)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        await check_store_key(store, key, dt.datetime.now(dt.UTC))
    except ConfigError as exc:
        await store.close()
        raise UsageError("; ".join(exc.problems)) from None
    return store, key.pseudonymizer
