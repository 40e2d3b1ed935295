"""``delivermon subject export|erase EMAIL``: one person's data, by their pseudonym.

Both print JSON (the same documents as ``GET|DELETE /api/v1/subjects/{email}``) and
never the address. ``EMAIL`` may be ``-`` to read it from stdin, which keeps it out
of the process list and the shell history. Exit codes: 0 done; 1 the store could not
be reached; 2 not an address, or a config error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.cli.report import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from monitor.config import Config
from monitor.model.privacy import (
    PrivacyError,
    Pseudonymizer,
    normalise_address,
)

if TYPE_CHECKING:
    from monitor.store import SqlStore

# The store (SQLAlchemy, Alembic) and the HTTP module's documents are imported when a
# subject command runs, not when the CLI starts: `delivermon check` should not pay for them.

__all__ = ["add_commands", "load_pseudonymizer"]

_T = TypeVar("_T")
_Run = Callable[[Callable[[], Coroutine[Any, Any, _T]]], _T]


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register subcommands; each sets ``handler(args, config, run) -> exit code``."""
    subject = sub.add_parser("subject", help="one person's stored data (GDPR access and erasure)")
    actions = subject.add_subparsers(dest="subject_command", required=True)
    for name, summary, handler in (
        ("export", "print everything stored about EMAIL as JSON", _export),
        ("erase", "delete EMAIL's reports and events; the suppression marker stays", _erase),
    ):
        parser = actions.add_parser(name, help=summary)
        parser.add_argument("email", metavar="EMAIL", help="the address, or - to read it on stdin")
        common(parser)
        parser.set_defaults(handler=handler)


def load_pseudonymizer(config: Config) -> Pseudonymizer:
    """The shared resolver (``monitor.store.keyfile.pseudonymizer_for``), so keys never diverge.

    Raises:
        ConfigError: see ``pseudonymizer_for``.
    """
    from monitor.store.keyfile import pseudonymizer_for

    return pseudonymizer_for(config.store.url, config.privacy.pseudonym_key)


def _address(args: argparse.Namespace) -> str | None:
    text: str = sys.stdin.readline().strip() if args.email == "-" else args.email
    try:
        normalise_address(text)
    except PrivacyError:
        print("delivermon: not an e-mail address", file=sys.stderr)
        return None
    return text


async def _export_action(store: SqlStore, pseudonym: str) -> dict[str, object]:

    from monitor.store.subject_documents import export_document

    return export_document(await store.export_subject(pseudonym))


async def _erase_action(store: SqlStore, pseudonym: str) -> dict[str, object]:

    from monitor.store.subject_documents import erasure_document

    return erasure_document(pseudonym, await store.erase_subject(pseudonym))


def _export(args: argparse.Namespace, config: Config, run: _Run[Any]) -> int:
    return _subject(args, config, run, _export_action)


def _erase(args: argparse.Namespace, config: Config, run: _Run[Any]) -> int:
    return _subject(args, config, run, _erase_action)


def _subject(
    args: argparse.Namespace,
    config: Config,
    run: _Run[dict[str, object]],
    action: Callable[[SqlStore, str], Coroutine[Any, Any, dict[str, object]]],
) -> int:
    """Check the address, open the store, run ``action`` on the pseudonym, print its JSON."""
    from monitor.store import StoreUnavailableError, open_store

    address = _address(args)
    if address is None:
        return EXIT_USAGE
    pseudonym = load_pseudonymizer(config).pseudonym(address)

    async def go() -> dict[str, object]:
        store = await open_store(config.store.url)
        try:
            return await action(store, pseudonym)
        finally:
            await store.close()

    try:
        document = run(go)
    except StoreUnavailableError as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK
