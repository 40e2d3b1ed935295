"""What a test run let out of the process, gathered for one check at the end of the session:
every log record (with its traceback), every HTTP body the tests read back from the API,
and the daemon log files under the session's temporary directory; and the secrets the
tests' configs held. ``conftest.py`` installs the collection and runs ``find_leaks``.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

# Everything a test read from the API (error bodies, /readyz, /metrics, the JSON API).
RESPONSES: list[bytes] = []
# Secret values seen in the configs of in-process daemons and apps.
SECRETS: set[str] = set()
MIN_SECRET = 8  # shorter values ("pm", "u") are too common to tell a leak from chance

ADDRESS = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Addresses that are the operator's own settings, not a person's data: the e-mail
# notifier's From/To, placeholders of documentation. A recipient address is never here.
OPERATOR_ADDRESSES = frozenset(
    {b"delivermon@example.com", b"ops@example.com", b"hostmaster@example.com"}
)
# Log lines of the tests' own stand-in servers (aiosmtpd's session log shows the SMTP
# envelope the e-mail notifier sent to the operator's address list).
STAND_IN_LOGGERS = ("DEBUG mail.log ", "INFO mail.log ", "WARNING mail.log ")
# Routes whose whole purpose is to return one person's data to the admin who asked.
SUBJECT_PREFIX = b"/api/v1/subjects/"


class Recorder(logging.Handler):
    """Keeps every record's full text, traceback included."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            extra = {
                k: v
                for k, v in record.__dict__.items()
                if k not in _STANDARD and not k.startswith("_")
            }
            self.lines.append(f"{text} {extra}" if extra else text)
        except Exception:  # a record that cannot be formatted is the test's business
            self.lines.append(f"<unformattable record from {record.name}>")


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


def secrets_of(doc: dict[str, object]) -> Iterator[str]:
    """The secret values of a config (as parsed TOML): tokens, keys, passwords, URLs of
    Slack hooks; ``env:NAME`` values read from the environment when set."""

    def value(v: object) -> Iterator[str]:
        if isinstance(v, str):
            if v.startswith("env:"):
                v = os.environ.get(v[4:], "")
            # "aaaa..." (a test's stand-in key) also fills fingerprints and hashes by chance.
            if len(v) >= MIN_SECRET and len(set(v)) > 1:
                yield v

    def section(name: str) -> dict[str, object]:
        found = doc.get(name)
        return found if isinstance(found, dict) else {}

    http, privacy, dnsbl, hooks = (
        section("http"),
        section("privacy"),
        section("dnsbl"),
        section("webhooks"),
    )
    for key in ("ingest_token", "admin_token"):
        yield from value(http.get(key))
    yield from value(privacy.get("pseudonym_key"))
    keys = dnsbl.get("keys")
    if isinstance(keys, dict):
        for v in keys.values():
            yield from value(v)
    for provider, fields in (("mailgun", ("signing_key",)), ("postmark", ("password",))):
        hook = hooks.get(provider)
        if isinstance(hook, dict):
            for f in fields:
                yield from value(hook.get(f))
    store_url = section("store").get("url")
    if isinstance(store_url, str):  # postgresql://user:PASSWORD@host/db
        yield from value(urlsplit(store_url).password)
    imap = section("imap")
    yield from value(imap.get("password"))
    notify = doc.get("notify")
    for entry in notify if isinstance(notify, list) else []:
        if isinstance(entry, dict):
            yield from value(entry.get("password"))
            yield from value(entry.get("bearer_token"))
            if entry.get("kind") in ("slack", "webhook"):  # a hook URL may carry a token
                yield from value(entry.get("url"))
            headers = entry.get("headers")
            if isinstance(headers, dict):
                for v in headers.values():
                    yield from value(v)


def config_secrets(paths: Iterable[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        try:
            found.update(secrets_of(tomllib.loads(path.read_text("utf-8"))))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    return found


def find_leaks(texts: Iterable[tuple[str, bytes]], secrets: Iterable[str]) -> list[str]:
    """``(where, text)`` pairs holding a secret or a person's address."""
    wanted = [s.encode() for s in secrets]
    problems = []
    for where, text in texts:
        for secret in wanted:
            if secret in text:
                problems.append(f"{where}: a secret ({secret[:3].decode()}...)")
        for match in ADDRESS.finditer(text):
            # A DMARC rua/ruf mailbox is part of a public DNS record, not a person's data.
            published = text[max(0, match.start() - 7) : match.start()].lower() == b"mailto:"
            if not published and match.group(0).lower() not in OPERATOR_ADDRESSES:
                shown = ADDRESS.sub(b"<address>", where.encode()).decode()
                problems.append(f"{shown}: an address ({match.group(0)[:3].decode()}...@...)")
                break
    return problems
