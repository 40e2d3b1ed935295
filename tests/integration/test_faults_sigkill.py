"""``delivermon run`` killed with SIGKILL while events, ARF reports and signed Mailgun
webhooks are being posted: after a restart every item that got a 202 is stored, once.

Posting threads run against the daemon process; it is killed mid-stream, restarted on
the same SQLite file, and every item sent (acknowledged or not) is sent again. Every
acknowledged item must come back as a duplicate (it was stored before its 202), and the
counters must equal the number of distinct items: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from daemon import DaemonProcess, offline_config
from sqlitefile import row_counts

from monitor.ingest.parsers import parser_by_name

TOKEN = "sigkill-ingest-token"
MAILGUN_KEY = "sigkill-mailgun-signing-key"
ARF = parser_by_name("arf").examples[0]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "sigkill.toml"
    extra = f"""
[http]
ingest_token = "{TOKEN}"
[webhooks.mailgun]
signing_key = "{MAILGUN_KEY}"
"""
    path.write_text(offline_config(f"sqlite:///{tmp_path / 'd.db'}", extra=extra))
    return path


def _post(
    url: str, body: bytes, content_type: str, auth: bool = True
) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    if auth:
        request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}  # the daemon died under the request


def _event_batch(n: int) -> bytes:
    return json.dumps(
        {"events": [{"type": "delivered", "campaign": "k", "id": f"b{n}-{i}"} for i in range(20)]}
    ).encode()


def _report(n: int) -> bytes:
    return ARF.replace(b"<1@example.com>", f"<kill-{n}@example.com>".encode())


def _mailgun(n: int) -> bytes:
    stamp, token = str(int(time.time())), uuid.uuid4().hex * 2
    digest = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": digest},
            "event-data": {
                "id": f"mg-{n}",
                "timestamp": time.time(),
                "event": "delivered",
                "recipient": f"r{n}@example.org",
                "user-variables": {"campaign": "k"},
            },
        }
    ).encode()


KINDS = {
    "events": ("/api/v1/events", _event_batch, "application/json", True),
    "arf": ("/api/v1/feedback/arf", _report, "message/rfc822", True),
    "mailgun": ("/api/v1/webhooks/mailgun", _mailgun, "application/json", False),
}


def test_sigkill_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    daemon = DaemonProcess(config).start()
    sent: dict[str, list[int]] = {kind: [] for kind in KINDS}
    acked: dict[str, list[int]] = {kind: [] for kind in KINDS}
    stop = threading.Event()

    def post_forever(kind: str) -> None:
        path, body, content_type, auth = KINDS[kind]
        n = 0
        while not stop.is_set():
            n += 1
            sent[kind].append(n)
            status, _ = _post(daemon.url + path, body(n), content_type, auth)
            if status == 202:
                acked[kind].append(n)
            elif status == 0:
                return

    threads = [threading.Thread(target=post_forever, args=(k,)) for k in KINDS]
    for thread in threads:
        thread.start()
    while min(len(a) for a in acked.values()) < 20:
        time.sleep(0.05)
    daemon.signal(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(15)
    daemon.stop()
    assert all(len(a) >= 20 for a in acked.values())

    again = DaemonProcess(config, port=daemon.port).start()
    try:
        for kind, (path, body, content_type, auth) in KINDS.items():
            for n in sent[kind]:
                status, answer = _post(again.url + path, body(n), content_type, auth)
                assert status == 202, (kind, n, status)
                if n in acked[kind]:  # stored before it was acknowledged: a duplicate now
                    if kind == "arf":
                        assert answer["duplicate"] is True, (kind, n)
                    else:
                        assert answer["accepted"] == 0, (kind, n, answer)
    finally:
        assert again.stop() == 0
    counts = row_counts(tmp_path / "d.db", ["feedback_reports"])
    assert counts["feedback_reports"] == len(sent["arf"])
    with sqlite3.connect(tmp_path / "d.db") as conn:
        delivered = conn.execute("SELECT sum(delivered) FROM counters").fetchone()[0]
    assert delivered == 20 * len(sent["events"]) + len(sent["mailgun"])
