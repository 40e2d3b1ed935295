"""``delivermon run``: the daemon."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from monitor.checking.sharding import parse_shard
from monitor.config import Config, parse_listen
from monitor.model.errors import UsageError

# The daemon (aiohttp's server, the store, Alembic, APScheduler) is imported when `run`
# runs, not when the CLI starts: `delivermon check` should not pay for it.

__all__ = ["add_commands"]

log = logging.getLogger(__name__)

Runner = Callable[[Callable[[], Coroutine[Any, Any, int]]], int]


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``run``; it sets ``handler(args, config, run) -> exit code``."""
    run = sub.add_parser("run", help="run the daemon: scheduled checks, metrics, alerts, HTTP API")
    common(run)
    run.add_argument("--listen", metavar="HOST:PORT", help="replaces [http] listen")
    run.add_argument("--shard", metavar="INDEX/COUNT", help="replaces [cluster] shard, e.g. 0/2")
    run.set_defaults(handler=_cmd_run, default_log_level="INFO")


def _cmd_run(args: argparse.Namespace, config: Config, run: Runner) -> int:
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.listen is not None:
        try:
            parse_listen(args.listen)  # as [http] listen: an IP address (or localhost), no port 0
        except ValueError as exc:
            raise UsageError(f"--{exc}") from None
    from monitor.daemon.app import DaemonOptions, run_daemon

    options = DaemonOptions(
        config_path=args.config_path,
        listen=args.listen,
        shard=shard,
        logs=args.logs,
        nameservers=tuple(args.nameserver or ()),
    )
    return run(lambda: run_daemon(config, options))
