"""The IMAP poller: reads a mailbox of reports into the store, each message routed to the
first kind of mail that takes it (``monitor.ingest.kinds``: ARF feedback reports, ...).

Each message is committed to the store *before* it is moved out of the mailbox
(to ``processed_folder``, or ``refused_folder`` for mail that is not a readable
report). A crash between the two leaves the message in place; the next poll
finds its raw SHA-256 already stored, counts it as a duplicate and moves it. So
nothing is lost and nothing is counted twice, across restarts too.

A message whose ingestion fails unexpectedly (not a refusal) stays for the next
poll, marked with the IMAP keyword ``$DelivermonFailed<N>`` (its N-th failure).
The count lives on the message itself, so it survives restarts and follows the
message whatever its UID or the mailbox's UIDVALIDITY; after ``[imap]
max_attempts`` failures the message is moved to ``refused_folder``. A failure
while the store is unavailable (it says so, refusing the write, or it does not
answer a ping) is an outage, not the message's fault, and is not counted.

ImapError (a MonitorError)        ``reason`` is a stable code
├── ImapInsecureError             plain IMAP to a host that is not loopback
├── ImapAuthError                 the server refused the credentials
└── ImapProtocolError             connection, TLS, timeout or a command the server refused
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aioimaplib

from monitor.config import ImapConfig, resolve_secret
from monitor.ingest.errors import IngestError
from monitor.ingest.kinds import INGEST_KINDS, IngestContext, IngestKind, route_ingest
from monitor.model.errors import MonitorError
from monitor.model.hosts import is_loopback_host
from monitor.model.privacy import PrivacyError, Pseudonymizer
from monitor.store.errors import StoreUnavailableError
from monitor.store.models import Store

__all__ = [
    "FAILURE_KEYWORD",
    "ImapAuthError",
    "ImapError",
    "ImapInsecureError",
    "ImapPoller",
    "ImapProtocolError",
    "PollResult",
    "encode_mailbox_name",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGES = 100
DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
DEFAULT_COMMAND_TIMEOUT = 30.0

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
# RFC 3501 §2.3.2 keyword (an atom): the N-th unexpected failure of the message.
FAILURE_KEYWORD = "$DelivermonFailed"
_FAILURE = re.compile(rb"^\$DelivermonFailed(\d{1,3})$", re.IGNORECASE)
_LITERAL = re.compile(rb"BODY\[\] \{(\d+)\}$")
_RESPONSE_CODE = re.compile(rb"^\[([A-Z-]+)")


class ImapError(MonitorError):
    """Root of the poller's errors; ``reason`` is a stable code (``imap.*``).

    Messages never contain the username, the password or server-supplied text
    beyond an RFC 5530 response code.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


class ImapInsecureError(ImapError):
    """``security = "none"`` for a host that is not a loopback address."""


class ImapAuthError(ImapError):
    """LOGIN refused (wrong credentials, or login disabled on this connection)."""


class ImapProtocolError(ImapError):
    """The connection, the TLS handshake or a command failed or timed out."""


@dataclass(frozen=True, slots=True)
class _Listed:
    """A message of the batch: its size and how many earlier polls failed on it."""

    size: int
    failures: int


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did. ``deferred``: messages left for the next poll by the per-poll
    bound, or because the store could not take them. ``reasons``: the refused ones by
    reason (``too_large``, ``too_many_failures`` or the ingest's reason code)."""

    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    errors: int = 0
    deferred: int = 0
    reasons: Mapping[str, int] = field(default_factory=dict, compare=False)


# What became of one message; "error" and "gone" leave it where it is.
# "outage": the store said it cannot take the message (StoreUnavailableError), whatever
# a ping says (a full disk or a held write lock still answers reads).
_Outcome = Literal["stored", "duplicate", "refused", "error", "outage", "gone"]


class _Response(Protocol):
    result: str
    lines: list[bytes | bytearray]


# A LIST "" "" answer: (flags) "delimiter" "" (or NIL: a flat server).
_DELIMITER = re.compile(rb'^\([^)]*\) (?:"((?:\\.|[^"\\])+)"|NIL) ')


def _on_server(name: str, delimiter: str | None) -> str:
    """A configured folder name ("delivermon/processed": levels written with "/") in the
    server's own hierarchy ("delivermon.processed" where the delimiter is ".")."""
    if not delimiter or delimiter == "/":
        return name
    return name.replace("/", delimiter)


def encode_mailbox_name(name: str) -> str:
    """A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 §5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    text = "".join(out)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapPoller:
    """Polls one mailbox: ``await poll_once()`` per interval; each call opens its own session.

    Args:
        ssl_context: for ``tls``/``starttls``; default: the system CAs, hostname checked.
        max_messages: at most this many messages per poll (oldest UID first).
        max_message_bytes: larger messages are refused unread (``imap.too_large``).
        command_timeout: seconds for the connection and for each IMAP command.
        use_move: use MOVE (RFC 6851) when advertised; False forces COPY + EXPUNGE.
        password: the password as read by the settings builder; None reads ``config.password``.
        kinds: the kinds of mail the mailbox holds, tried in order (``monitor.ingest.kinds``).

    Raises:
        ImapInsecureError: plain IMAP to a host that is not loopback.
        ImapAuthError: the password is ``env:NAME`` and NAME is unset.
    """

    def __init__(
        self,
        config: ImapConfig,
        *,
        store: Store,
        pseudonymizer: Pseudonymizer,
        campaign_headers: Sequence[str],
        store_raw: bool,
        clock: Callable[[], dt.datetime],
        ssl_context: ssl.SSLContext | None = None,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        use_move: bool = True,
        password: str | None = None,
        kinds: Sequence[IngestKind] = INGEST_KINDS,
    ) -> None:
        if config.security == "none" and not is_loopback_host(config.host):
            raise ImapInsecureError(
                "imap.plaintext_not_loopback",
                'security = "none" sends the password in clear text; it is allowed only '
                'for a loopback host: use "tls" or "starttls"',
            )
        password = password or resolve_secret(config.password)
        if password is None:
            raise ImapAuthError("imap.password_missing", "the IMAP password is not set")
        if max_messages < 1 or max_message_bytes < 1 or command_timeout <= 0:
            raise ValueError("max_messages, max_message_bytes and command_timeout must be > 0")
        self._config = config
        self._password = password
        self._store = store
        self._pseudonymizer = pseudonymizer
        self._campaign_headers = tuple(campaign_headers)
        self._store_raw = store_raw
        self._kinds = tuple(kinds)
        self._clock = clock
        self._ssl_context = ssl_context
        self._max_messages = max_messages
        self._max_message_bytes = max_message_bytes
        self._timeout = command_timeout
        self._use_move = use_move

    def __repr__(self) -> str:
        c = self._config
        return f"ImapPoller(host={c.host!r}, port={c.port}, security={c.security!r})"

    async def poll_once(self) -> PollResult:
        """Ingest up to ``max_messages`` messages and move each to its folder.

        A message whose ingestion fails unexpectedly stays in the mailbox for the
        next poll and counts as an error; after ``max_attempts`` such failures (not
        counting those while the store is unavailable) it is moved to the refused
        folder.

        Raises:
            ImapError: connecting, logging in or an IMAP command failed; messages
                committed before it are moved by the next poll (as duplicates).
        """
        client = await self._connect()
        try:
            await self._login(client)
            delimiter = await self._delimiter(client)
            processed, refused, mailbox = (
                _on_server(name, delimiter)
                for name in (
                    self._config.processed_folder,
                    self._config.refused_folder,
                    self._config.mailbox,
                )
            )
            for folder in (processed, refused):
                await self._ensure_folder(client, folder)
            await self._command(client.select(encode_mailbox_name(mailbox)), "SELECT")
            return await self._poll_selected(client, processed, refused)
        finally:
            await self._logout(client)

    async def _delimiter(self, client: aioimaplib.IMAP4) -> str | None:
        """The server's hierarchy delimiter (RFC 3501 §6.3.8: LIST "" ""), None if it
        gives none."""
        response = await self._command(client.list('""', '""'), "LIST", check=False)
        if response.result != "OK":
            return None
        for line in response.lines:
            found = _DELIMITER.match(line) if isinstance(line, bytes) else None
            if found is not None and found.group(1) is not None:
                # One character, perhaps quoted with a backslash before it: its last byte.
                return found.group(1)[-1:].decode("ascii", "replace")
        return None

    async def _poll_selected(
        self, client: aioimaplib.IMAP4, processed: str, refused: str
    ) -> PollResult:
        # UNDELETED: a message copied to its folder and flagged by the COPY
        # fallback, but not yet expunged, is done already.
        response = await self._command(client.uid_search("UNDELETED", charset=None), "SEARCH")
        uids = _search_uids(response)
        batch, deferred = uids[: self._max_messages], len(uids) - self._max_messages
        listed = await self._list(client, batch)
        tally = dict.fromkeys(("stored", "duplicate", "refused", "error"), 0)
        reasons: dict[str, int] = {}
        for position, uid in enumerate(batch):
            message = listed.get(uid)
            if message is None:
                continue  # expunged by someone else meanwhile
            outcome: _Outcome
            reason: str | None = None
            if message.size > self._max_message_bytes:
                outcome, reason = "refused", "too_large"
            elif message.failures >= self._config.max_attempts:  # e.g. the limit was lowered
                outcome, reason = "refused", "too_many_failures"
            else:
                outcome, reason = await self._ingest(client, uid)
            if outcome == "gone":
                continue
            if outcome == "outage":
                # Left for the next poll, and not the message's fault; nor is the rest of
                # the batch: the store cannot take it now, so it is not offered it.
                tally["error"] += 1
                left = len(batch) - position - 1
                deferred = max(deferred, 0) + left
                log.warning(
                    "IMAP poll stopped: the store cannot take messages now; "
                    "%d left in the mailbox for the next poll",
                    left + 1,
                )
                break
            if outcome == "error" and await self._store_answers():
                outcome = await self._count_failure(client, uid, message.failures + 1)
                reason = "too_many_failures" if outcome == "refused" else None
            if outcome != "error":  # an error leaves the message for the next poll
                folder = refused if outcome == "refused" else processed
                if outcome == "refused":
                    # Its UID in the polled mailbox and the reason: never an address.
                    why = reason or "unknown"
                    log.warning("IMAP message UID %d refused (%s), moved to %s", uid, why, folder)
                    reasons[why] = reasons.get(why, 0) + 1
                await self._move(client, uid, folder)
            tally[outcome] += 1
        result = PollResult(
            stored=tally["stored"],
            duplicates=tally["duplicate"],
            refused=tally["refused"],
            errors=tally["error"],
            deferred=max(deferred, 0),
            reasons=reasons,
        )
        if result != PollResult():
            log.info(
                "IMAP poll: %d stored, %d duplicates, %d refused, %d errors, %d deferred",
                result.stored,
                result.duplicates,
                result.refused,
                result.errors,
                result.deferred,
            )
        return result

    async def _ingest(self, client: aioimaplib.IMAP4, uid: int) -> tuple[_Outcome, str | None]:
        """Fetch one message (without setting \\Seen) and ingest it; the outcome, and a
        refusal's reason."""
        response = await self._command(client.uid("FETCH", str(uid), "(BODY.PEEK[])"), "FETCH")
        raw = _fetched_body(response)
        if raw is None:
            return "gone", None
        context = IngestContext(
            store=self._store,
            pseudonymizer=self._pseudonymizer,
            campaign_headers=self._campaign_headers,
            store_raw=self._store_raw,
            now=self._clock(),
        )
        try:
            result = await route_ingest(raw, context, self._kinds)
        except IngestError as exc:
            return "refused", exc.reason
        except PrivacyError:  # a reported recipient that is not an address
            return "refused", "invalid_recipient"
        except StoreUnavailableError:
            return "outage", None
        except Exception as exc:  # keep polling; the message stays for a retry
            # The type only: a database error's text can carry row values.
            log.error("IMAP message UID %d left in the mailbox: %s", uid, type(exc).__name__)
            return "error", None
        return ("duplicate" if result.duplicate else "stored"), None

    async def _store_answers(self) -> bool:
        """Whether the store answers: if not, a failure is an outage, not a poison message."""
        try:
            await self._store.ping()
        except Exception:  # any failure to answer: the store is down
            return False
        return True

    async def _count_failure(
        self, client: aioimaplib.IMAP4, uid: int, failures: int
    ) -> Literal["refused", "error"]:
        """Mark the message's ``failures``-th unexpected failure; "refused" once it is the last.

        A poison message (one that fails every time) must not be retried forever: after
        ``max_attempts`` failures it goes to the refused folder, for a person to look at.
        """
        if failures >= self._config.max_attempts:
            log.warning("IMAP message UID %d failed %d times: refusing it", uid, failures)
            return "refused"
        response = await self._command(
            client.uid("STORE", str(uid), "+FLAGS.SILENT", f"({FAILURE_KEYWORD}{failures})"),
            "STORE",
            check=False,
        )
        if response.result != "OK":  # the mailbox does not take keywords: retried unbounded
            log.warning("IMAP failure count not kept: the server refused the keyword")
        return "error"

    async def _move(self, client: aioimaplib.IMAP4, uid: int, folder: str) -> None:
        """Move one message (RFC 6851 MOVE, else COPY, flag \\Deleted and expunge it)."""
        target = encode_mailbox_name(folder)
        if self._use_move and client.has_capability("MOVE"):
            await self._command(client.uid("MOVE", str(uid), target), "MOVE")
            return
        await self._command(client.uid("COPY", str(uid), target), "COPY")
        await self._command(client.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
        if client.has_capability("UIDPLUS"):
            await self._command(client.uid("EXPUNGE", str(uid)), "EXPUNGE")
        else:
            await self._command(client.expunge(), "EXPUNGE")

    async def _list(self, client: aioimaplib.IMAP4, uids: Sequence[int]) -> dict[int, _Listed]:
        """Size and failure count of each message still there."""
        if not uids:
            return {}
        message_set = ",".join(str(u) for u in uids)
        response = await self._command(
            client.uid("FETCH", message_set, "(UID RFC822.SIZE FLAGS)"), "FETCH"
        )
        listed: dict[int, _Listed] = {}
        for line in response.lines:
            data = bytes(line)
            uid, size = _UID.search(data), _SIZE.search(data)
            if uid and size:
                flags = _FLAGS.search(data)
                failures = _failures(flags[1] if flags else b"")
                listed[int(uid[1])] = _Listed(int(size[1]), failures)
        return listed

    async def _connect(self) -> aioimaplib.IMAP4:
        c = self._config
        client: aioimaplib.IMAP4
        if c.security == "tls":
            context = self._ssl_context or ssl.create_default_context()
            client = aioimaplib.IMAP4_SSL(
                c.host, c.port, timeout=self._timeout, ssl_context=context
            )
        else:
            client = aioimaplib.IMAP4(c.host, c.port, timeout=self._timeout)
        try:
            await client.wait_hello_from_server()
            if c.security == "starttls":
                await self._starttls(client)
        except BaseException as exc:
            _close_transport(client)
            if isinstance(exc, ssl.SSLError):
                raise ImapProtocolError(
                    "imap.tls_failed", f"TLS with the IMAP server failed: {exc.reason}"
                ) from None
            if isinstance(exc, OSError | TimeoutError | aioimaplib.AioImapException):
                raise ImapProtocolError(
                    "imap.connect_failed",
                    f"cannot connect to the IMAP server: {type(exc).__name__}",
                ) from None
            raise
        return client

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        """RFC 3501 §6.2.1: STARTTLS, then the TLS handshake, then CAPABILITY afresh."""
        protocol = client.protocol
        if not client.has_capability("STARTTLS"):
            raise ImapProtocolError(
                "imap.starttls_unavailable", "the IMAP server does not offer STARTTLS"
            )
        loop = asyncio.get_running_loop()
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=loop)
        response = await asyncio.wait_for(protocol.execute(command), self._timeout)
        if response.result != "OK":
            raise ImapProtocolError("imap.starttls_failed", "the IMAP server refused STARTTLS")
        context = self._ssl_context or ssl.create_default_context()
        transport = await asyncio.wait_for(
            loop.start_tls(
                protocol.transport, protocol, context, server_hostname=self._config.host
            ),
            self._timeout,
        )
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self._timeout)

    async def _login(self, client: aioimaplib.IMAP4) -> None:
        if client.has_capability("LOGINDISABLED"):
            raise ImapAuthError(
                "imap.login_disabled", "the IMAP server does not allow LOGIN on this connection"
            )
        username = aioimaplib.quoted(self._config.username)  # aioimaplib quotes only the password
        try:
            response = await client.login(username, self._password)
        except (TimeoutError, aioimaplib.AioImapException) as exc:
            raise ImapProtocolError("imap.timeout", f"LOGIN failed: {type(exc).__name__}") from None
        if response.result != "OK":
            raise ImapAuthError(
                "imap.login_failed", f"the IMAP server refused the login{_code(response)}"
            )

    async def _ensure_folder(self, client: aioimaplib.IMAP4, folder: str) -> None:
        name = encode_mailbox_name(folder)
        response = await self._command(client.create(name), "CREATE", check=False)
        if response.result == "OK":
            log.info("IMAP folder created: %s", folder)
            await self._command(client.subscribe(name), "SUBSCRIBE", check=False)
            return
        # NO [ALREADYEXISTS] (RFC 5530) or a server without the code: exists if STATUS works.
        status = await self._command(client.status(name, "(MESSAGES)"), "STATUS", check=False)
        if status.result != "OK":
            raise ImapProtocolError(
                "imap.folder_unavailable",
                f"cannot create or open the folder {folder!r}{_code(response)}",
            )

    async def _command(
        self, awaitable: Awaitable[_Response], name: str, *, check: bool = True
    ) -> _Response:
        """Await an aioimaplib command under the per-command timeout; NO/BAD raise when checked."""
        try:
            response = await asyncio.wait_for(awaitable, self._timeout)
        except (TimeoutError, aioimaplib.CommandTimeout):
            raise ImapProtocolError("imap.timeout", f"{name} timed out") from None
        except (OSError, aioimaplib.AioImapException) as exc:
            raise ImapProtocolError(
                "imap.command_failed", f"{name} failed: {type(exc).__name__}"
            ) from None
        if check and response.result != "OK":
            raise ImapProtocolError(
                "imap.command_failed", f"the IMAP server refused {name}{_code(response)}"
            )
        return response

    async def _logout(self, client: aioimaplib.IMAP4) -> None:
        try:
            if client.get_state() in {"NONAUTH", "AUTH", "SELECTED"}:
                await asyncio.wait_for(client.logout(), self._timeout)
        except (OSError, TimeoutError, RuntimeError, aioimaplib.AioImapException):
            # The session is over either way. RuntimeError: uvloop's answer to a write on
            # a transport the server closed ("unable to perform operation"), which would
            # otherwise replace the poll's own error (a timeout, a dropped connection).
            pass
        finally:
            _close_transport(client)


def _close_transport(client: aioimaplib.IMAP4) -> None:
    transport = client.protocol.transport if client.protocol is not None else None
    if transport is not None and not transport.is_closing():
        transport.close()


def _code(response: _Response) -> str:
    """The RFC 5530 response code of a tagged NO/BAD, like `` [AUTHENTICATIONFAILED]``."""
    if response.lines:
        match = _RESPONSE_CODE.match(bytes(response.lines[-1]))
        if match:
            return f" [{match[1].decode()}]"
    return ""


def _search_uids(response: _Response) -> list[int]:
    uids: set[int] = set()
    for line in response.lines[:-1]:  # the last line is the tagged status text
        tokens = bytes(line).split()
        if tokens and all(t.isascii() and t.isdigit() for t in tokens):
            uids.update(int(t) for t in tokens)
    return sorted(uids)


def _failures(flags: bytes) -> int:
    """The highest ``$DelivermonFailed<N>`` among a message's flags (0 without one)."""
    found = [int(m[1]) for flag in flags.split() if (m := _FAILURE.match(flag))]
    return max(found, default=0)


def _fetched_body(response: _Response) -> bytes | None:
    """The BODY[] literal of a single-message UID FETCH, or None when the message is gone."""
    lines = response.lines
    for index, line in enumerate(lines[:-1]):
        match = _LITERAL.search(bytes(line)) if isinstance(line, bytes) else None
        if match and isinstance(lines[index + 1], bytearray):
            body = bytes(lines[index + 1])
            if len(body) == int(match[1]):
                return body
    return None
