"""A local HTTP receiver on 127.0.0.1 that records every JSON POST (webhook notifications)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class Receiver:
    """``url`` (``/hook``) accepts POSTs; ``received`` lists the decoded JSON bodies in order.

    ``statuses`` are answered in turn (then 200), to script failures; any other path
    answers 404 and records nothing.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path != "/hook":
                    self.send_response(404)
                    self.end_headers()
                    return
                with owner._lock:
                    owner.received.append(json.loads(body))
                    status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def matching(self, **fields: object) -> list[dict[str, object]]:
        with self._lock:
            return [r for r in self.received if all(r.get(k) == v for k, v in fields.items())]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
