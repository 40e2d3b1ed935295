"""SIGHUP before the daemon's event loop is up, and after its loop is gone.

SIGHUP's default action ends the process. ``delivermon run`` is reloaded with it (a
config tool's reload right after a restart), and a process starting up spends a second
or so importing before ``run_daemon`` installs its handler. The console script's entry
(``monitor.cli.entry``) holds a SIGHUP from its first line for ``run``; ``run_daemon``
takes a held one as a reload once started, and ignores SIGHUP once its handlers are
removed, while the process tears down (``release_sighup``: never its default action
between). Nothing here is imported by anything heavy.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

__all__ = ["hold_sighup", "release_sighup", "take_held_sighup"]

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


def release_sighup(loop: asyncio.AbstractEventLoop) -> None:
    """Remove the loop's SIGHUP handler; in a process whose entry held SIGHUP, leave it
    ignored with no moment of its default action between.

    ``loop.remove_signal_handler`` sets the default action back (SIGHUP's ends the
    process), so setting SIG_IGN after it left a window in which a SIGHUP (a config
    tool's reload as the service stops) ended the process with 129. Here SIG_IGN comes
    first, and the loop forgets its handler without resetting it (its own table, as
    ``remove_signal_handler`` would leave it; without one, the public call and SIG_IGN).
    """
    if not _holding:
        loop.remove_signal_handler(signal.SIGHUP)
        return
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    handlers = getattr(loop, "_signal_handlers", None)
    if isinstance(handlers, dict) and signal.SIGHUP in handlers:
        del handlers[signal.SIGHUP]
        if not handlers:
            signal.set_wakeup_fd(-1)  # as remove_signal_handler does for its last one
        return
    loop.remove_signal_handler(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
