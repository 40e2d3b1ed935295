"""``delivermon ingest ...``: feed reports from files, maildirs or stdin into the store."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["add_commands"]


def add_commands(
    sub: Any,  # argparse's private _SubParsersAction
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register subcommands; each sets ``handler(args, config, run) -> exit code``."""
