"""The poller's logout after a failed poll never replaces the poll's error.

A mock client stands in for the fault: with uvloop (the daemon's loop), LOGOUT on a
connection the server dropped raises RuntimeError ("unable to perform operation on
<TCPTransport closed=True>"); the standard loop the tests run on raises no such error,
so the fault cannot be produced with a real server here.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from monitor.config import ImapConfig
from monitor.ingest.imap import ImapPoller
from monitor.model.privacy import Pseudonymizer


class DroppedClient:
    protocol = SimpleNamespace(transport=None)

    def get_state(self) -> str:
        return "SELECTED"

    async def logout(self) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")


async def test_a_logout_on_a_dropped_connection_raises_nothing() -> None:
    poller = ImapPoller(
        ImapConfig(host="127.0.0.1", port=1, security="none", username="u", password="p"),
        store=None,  # type: ignore[arg-type]  # never reached: only the logout runs
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=(),
        store_raw=False,
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    client: Any = DroppedClient()
    await poller._logout(client)
