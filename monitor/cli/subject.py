"""``delivermon subject export|erase EMAIL``: one person's data, by their pseudonym;
``delivermon subject accept-key``: key the store with the current pseudonym key.

Export and erase print JSON (the same documents as ``GET|DELETE /api/v1/subjects/{email}``)
and never the address. ``EMAIL`` may be ``-`` to read it from stdin, which keeps it out
of the process list and the shell history. Both refuse a pseudonym key other than the
one the store's data was made with (``monitor.store.keyfile.check_store_key``): under
another key they would find nobody. Both read an existing store only (a missing
one is refused, never made). Exit codes: 0 done; 1 the store could not be reached or
does not exist; 2 not an address, or a config error (a lost or changed key among them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.cli.report import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from monitor.config import Config
from monitor.model.privacy import (
    PrivacyError,
    normalise_address,
)

if TYPE_CHECKING:
    from monitor.store import SqlStore

# The store (SQLAlchemy, Alembic) and the HTTP module's documents are imported when a
# subject command runs, not when the CLI starts: `delivermon check` should not pay for them.

__all__ = ["add_commands"]

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
        ("erase", "delete EMAIL's events and report links; the suppression marker stays", _erase),
    ):
        parser = actions.add_parser(name, help=summary)
        parser.add_argument("email", metavar="EMAIL", help="the address, or - to read it on stdin")
        common(parser)
        parser.set_defaults(handler=handler)
    accept = actions.add_parser(
        "accept-key",
        help="key the store with the current pseudonym key, after the old one was lost",
        description=_ACCEPT_KEY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(accept)
    accept.set_defaults(handler=_accept_key)


_ACCEPT_KEY = """\
Record the current pseudonym key ([privacy] pseudonym_key, or the key file beside a
SQLite database, created if missing) as the key of the store's data. The daemon and
these commands refuse to start with a key other than the recorded one. Run this only
when the old key is lost for good: what was stored under it can no longer be matched
to anyone. Suppressions made under it stop applying, subject exports and erasures miss
those rows, and the retention purge deletes the events and reports in time.
"""


def _address(args: argparse.Namespace) -> str | None:
    text: str = sys.stdin.readline().strip() if args.email == "-" else args.email
    try:
        normalise_address(text)
    except PrivacyError:
        print("delivermon: not an e-mail address", file=sys.stderr)
        return None
    return text


async def _export_action(store: SqlStore, pseudonym: str, address: str) -> dict[str, object]:

    from monitor.store.subject_documents import export_document

    return export_document(await store.export_subject(pseudonym, address=address))


async def _erase_action(store: SqlStore, pseudonym: str, address: str) -> dict[str, object]:

    from monitor.store.subject_documents import erasure_document

    return erasure_document(pseudonym, await store.erase_subject(pseudonym, address=address))


def _export(args: argparse.Namespace, config: Config, run: _Run[Any]) -> int:
    return _subject(args, config, run, _export_action)


def _erase(args: argparse.Namespace, config: Config, run: _Run[Any]) -> int:
    return _subject(args, config, run, _erase_action)


def _subject(
    args: argparse.Namespace,
    config: Config,
    run: _Run[dict[str, object]],
    action: Callable[[SqlStore, str, str], Coroutine[Any, Any, dict[str, object]]],
) -> int:
    """Check the address, open the store, run ``action`` on the pseudonym, print its JSON."""
    from monitor.store import StoreUnavailableError, open_store
    from monitor.store.keyfile import check_store_key, store_key

    address = _address(args)
    if address is None:
        return EXIT_USAGE
    url, configured = config.store.url, config.privacy.pseudonym_key
    # A configured key (or PostgreSQL's need of one) is checked first: a config error
    # whatever the store. A key file is read, or made, only beside a store that exists.
    early = store_key(url, configured) if configured or not url.startswith("sqlite") else None

    async def go() -> dict[str, object]:
        # An existing store only: a new empty one (a relative SQLite path read from
        # another directory) would answer "nothing stored" about anyone.
        store = await open_store(url, create=False)
        try:
            key = early or store_key(url, configured)
            await check_store_key(store, key, dt.datetime.now(dt.UTC))
            return await action(store, key.pseudonymizer.pseudonym(address), address)
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


def _accept_key(args: argparse.Namespace, config: Config, run: _Run[None]) -> int:
    del args
    from monitor.store import StoreUnavailableError, open_store
    from monitor.store.keyfile import store_key

    key = store_key(config.store.url, config.privacy.pseudonym_key)

    async def go() -> None:
        store = await open_store(config.store.url)
        try:
            await store.replace_pseudonym_key(
                key.pseudonymizer.fingerprint(), dt.datetime.now(dt.UTC)
            )
        finally:
            await store.close()

    try:
        run(go)
    except StoreUnavailableError as exc:
        print(f"delivermon: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"the store's data is now keyed with the pseudonym key of {key.origin}")
    return EXIT_OK
