"""``delivermon bounce classify|log``: one receiver reply classified; MTA logs into the store.

``classify`` needs no config and no store (the classifier is pure). ``log`` reads Postfix
or Exim log lines from files (``--follow``: keep reading, across rotation) or stdin and
stores each delivery attempt that bounced or was deferred as a classified event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from checks.bounces import classify_reply
from monitor.config import Config
from monitor.model.errors import CommandError, UsageError

__all__ = ["add_commands"]

_T = TypeVar("_T")
Run = Callable[[Callable[[], Coroutine[Any, Any, _T]]], _T]

_CLASSIFY_EPILOG = """\
TEXT is one SMTP reply as the receiver gave it (a DSN's Diagnostic-Code, an MTA log's
reply); - reads it from stdin. With --json one object:
{"class", "provider", "blocklist", "status", "enhanced", "permanent"}.

exit codes:
  0  classified (the class may be "unclassified": no rule matched)
  2  usage error (no text)
"""

_LOG_EPILOG = """\
PATH is a Postfix or Exim main log (plain text), or - for stdin. Each delivery attempt
that bounced or was deferred is stored as one classified event (source "mtalog"), keyed
by the log line, so reading a file again counts nothing twice; a sent line is stored as a
delivery. Arrivals, lines of other programs, and attempts to a recipient that is not a
full address (root@localhost: a local delivery) are skipped, and so are attempts whose
timestamp names no real moment (Dec 32, Feb 29 of a common year) or lies more than a day
ahead, with a warning on stderr. Without --follow a last line with no newline is read as
complete. With --follow the command keeps reading new lines, also after the file is
rotated (renamed or truncated), until SIGINT (Ctrl-C) or SIGTERM: the lines read so far
are stored, then the command exits 0; a last line with no newline waits for the rest.
With --json each bounce or deferral read is printed as one JSON object, also one read
before (it is not stored again); the summary line without --json counts new events.
Lines are read and stored 500 at a time: memory does not grow with the file.

exit codes:
  0  every line was read (lines that are not delivery attempts are skipped, not errors)
  1  the store could not be opened or failed (what was read before was stored)
  2  usage or configuration error (a PATH that does not exist, a pseudonym key
     that is not the store's)
"""


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    bounce = sub.add_parser("bounce", help="classify bounces; read MTA logs")
    bounce_sub = bounce.add_subparsers(dest="bounce_command", required=True)
    classify = bounce_sub.add_parser(
        "classify",
        help="classify one SMTP reply (class, provider, blocklist)",
        epilog=_CLASSIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(classify)
    classify.add_argument("text", metavar="TEXT", help="the reply, or - for stdin")
    classify.add_argument("--recipient-domain", metavar="DOMAIN", help="the recipient's domain")
    classify.add_argument("--json", action="store_true", help="one JSON object")
    classify.set_defaults(handler=_cmd_classify, says_config=False)  # needs no config

    log = bounce_sub.add_parser(
        "log",
        help="store the bounces and deferrals of Postfix/Exim log lines",
        epilog=_LOG_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(log)
    log.add_argument("paths", nargs="+", metavar="PATH", help="log file, or - for stdin")
    log.add_argument("--follow", action="store_true", help="keep reading, across rotation")
    log.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per bounce or deferral read (also on a re-read: stored once)",
    )
    log.set_defaults(handler=_cmd_log)


def _cmd_classify(args: argparse.Namespace, config: Config, run: Run[Any]) -> int:
    del config, run  # the classifier is pure
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise UsageError("no reply text to classify")
    found = classify_reply(text, recipient_domain=args.recipient_domain)
    document = found.document()
    if args.json:
        print(json.dumps(document))
    else:
        print("\t".join("-" if v is None else str(v).lower() for v in document.values()))
    return 0


def _cmd_log(args: argparse.Namespace, config: Config, run: Run[int]) -> int:
    from monitor.cli.feedback import open_feedback_store
    from monitor.ingest.mtalog import follow_logs, log_zone  # deferred: the store is heavy

    paths: list[Path | None] = []
    for text in args.paths:
        if text == "-":
            paths.append(None)
        elif Path(text).is_file() or args.follow:
            paths.append(Path(text))
        elif Path(text).exists():
            raise UsageError(f"{text}: not a regular file")
        else:
            raise UsageError(f"{text}: no such file")

    def emit(document: dict[str, object]) -> None:
        if args.json:
            print(json.dumps(document), flush=True)

    async def go() -> int:
        stop = asyncio.Event()
        if args.follow and None not in paths:
            # SIGINT and SIGTERM end the follow between two batches: a batch being
            # written is finished, never cancelled half-way. With stdin (-) among the
            # paths Ctrl-C keeps asyncio's default (the task is cancelled): a read of
            # stdin blocks in a thread no event can wake.
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
        from monitor.store import StoreError  # deferred: the store is heavy

        store, pseudonymizer = await open_feedback_store(config)
        try:
            return await follow_logs(
                paths,
                store,
                pseudonymizer,
                follow=args.follow,
                emit=emit,
                zone=log_zone(config.bounces.log_timezone),
                stop=stop,
            )
        except StoreError as exc:  # failed mid-run: every batch before was committed
            raise CommandError(str(exc)) from None
        finally:
            await store.close()

    try:
        stored: int = run(go)
    except KeyboardInterrupt:
        return 0
    if not args.json:
        print(f"{stored} new event(s) stored (bounces, deferrals and deliveries)")
    return 0
