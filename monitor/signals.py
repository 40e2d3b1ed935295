"""SIGHUP before the daemon's event loop is up, and after its loop is gone.

SIGHUP's default action ends the process. ``delivermon run`` is reloaded with it (a
config tool's reload right after a restart), and a process starting up spends a second
or so importing before ``run_daemon`` installs its handler. The console script's entry
(``monitor.cli.entry``) holds a SIGHUP from its first line for ``run``; ``run_daemon``
takes a held one as a reload once started, and ignores SIGHUP once its handlers are
removed, while the process tears down. Nothing here is imported by anything heavy.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["hold_sighup", "ignore_sighup_if_held", "take_held_sighup"]

_held: list[int] = []
_holding = False


def _hold(signum: int, _frame: FrameType | None) -> None:
    _held.append(signum)


def hold_sighup() -> None:
    """From now on a SIGHUP is recorded, not fatal (the console script's ``run``)."""
    global _holding
    signal.signal(signal.SIGHUP, _hold)
    _holding = True


def take_held_sighup() -> bool:
    """Whether a SIGHUP arrived while held (and forget it)."""
    held = bool(_held)
    _held.clear()
    return held


def ignore_sighup_if_held() -> None:
    """After the daemon's own handler is removed: a SIGHUP is ignored, not fatal, in a
    process whose entry held it (a test calling ``run_daemon`` keeps its own handling)."""
    if _holding:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
