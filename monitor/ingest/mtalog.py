"""Postfix and Exim log lines into events: each delivery attempt's outcome and reply.

For senders that run their own MTA: every attempt that bounced or was deferred becomes a
bounce event with its classified reply (the same ``bounce_event`` as a DSN), every
successful delivery a ``delivered`` event (the rates' denominator). Other lines (arrivals,
connections, queue management, other programs) are skipped.

Formats: Postfix ``postfix/smtp[pid]: QUEUEID: to=<rcpt>, relay=host[ip]:port, ...,
dsn=X.Y.Z, status=sent|deferred|bounced|expired (detail)`` (also lmtp, error, local,
virtual, pipe); Exim main log flags ``=>`` delivered, ``->`` delivered (same delivery),
``**`` failed, ``==`` deferred ("retry time not reached" lines are not attempts).

``LogFollower`` reads a file's new lines across rotation: a renamed file is read to its
end before the new one is opened; a truncated file (copytruncate) is read again from the
start, also when it has grown back to its old size or beyond before the next read (its
first bytes are no longer the ones read before). It hands the lines over in batches (at
most ``limit`` a read, the file read 1 MiB at a time), so its memory does not grow with
the file: the caller stores a batch before it reads the next. Each line's SHA-256 is its
event key, so a line read twice counts once.

An event's time is the line's own timestamp (``line_time``): an ISO 8601 / RFC 3339 one
(Postfix ``maillog_file`` with long timestamps, rsyslog's high-precision format, Exim's
``YYYY-MM-DD HH:MM:SS [+ZZZZ]``) as given, in ``[bounces] log_timezone`` when it names no
offset; a classic syslog ``Mon DD HH:MM:SS`` one in ``log_timezone``, in the current year
unless that puts it more than a day ahead of now (then the year before: a December line
read in January). A line with no timestamp delivermon knows takes the time it is read.
A line whose stamp names no real moment (``Dec 32 25:61:61``, ``Feb 29`` in a common
year, ``2026-13-01``) or lies more than a day ahead of now is skipped with a warning: it
cannot be placed in any window, and the time it is read would be a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import sys
import zoneinfo
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from checks.bounces import classify_reply, provider_of
from monitor.ingest.bounces import bounce_event
from monitor.ingest.errors import MalformedReportError
from monitor.model.events import UNATTRIBUTED, Event, EventType, Provider, Source
from monitor.model.privacy import PrivacyError, Pseudonymizer, normalise_address
from monitor.store.models import Store

__all__ = [
    "BATCH",
    "Attempt",
    "LogFollower",
    "attempt_events",
    "follow_logs",
    "line_time",
    "log_zone",
    "parse_line",
]

# The zone of timestamps that name none: None is the host's local time (with its DST rules).
LogZone = dt.tzinfo | None

_ISO_TIME = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d)[T ](?P<time>\d\d:\d\d:\d\d)(?P<frac>\.\d{1,9})?"
    r"(?P<zone>Z|[+-]\d\d:?\d\d| [+-]\d{4}(?= ))?(?=\s)",
    re.IGNORECASE,
)
_SYSLOG_TIME = re.compile(
    r"^(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(?P<day>\d{1,2}) "
    r"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?=\s)"
)
_MONTHS = {  # syslog's month names are English whatever the locale
    m: n
    for n, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_AHEAD = dt.timedelta(days=1)  # a syslog line dated further ahead is from last year

log = logging.getLogger(__name__)


def log_zone(name: str) -> LogZone:
    """``[bounces] log_timezone`` (validated by the config): ``"local"`` (the host's zone,
    None) or an IANA zone name."""
    return None if name == "local" else zoneinfo.ZoneInfo(name)


def _aware(naive: dt.datetime, zone: LogZone) -> dt.datetime:
    # A naive datetime's astimezone() reads it as the host's local time (DST included).
    local = naive.replace(tzinfo=zone) if zone is not None else naive.astimezone()
    return local.astimezone(dt.UTC)


def line_time(line: str, now: dt.datetime, zone: LogZone = None) -> dt.datetime | None:
    """When the line says it was written (UTC), or None when it carries no known stamp.

    Raises:
        MalformedReportError: ``bad_timestamp``, a stamp that names no real moment
            (``Dec 32``, ``25:61:61``, ``Feb 29`` of a common year) or, for an ISO
            stamp, one more than a day ahead of ``now``.
    """
    iso = _ISO_TIME.match(line)
    if iso is not None:
        frac = (iso.group("frac") or "")[:7]  # fromisoformat takes up to microseconds
        offset = (iso.group("zone") or "").strip()
        try:
            moment = dt.datetime.fromisoformat(
                f"{iso.group('date')}T{iso.group('time')}{frac}{offset}"
            )
        except ValueError:
            raise _impossible(iso.group(0)) from None
        moment = moment.astimezone(dt.UTC) if moment.tzinfo else _aware(moment, zone)
        if moment - now > _AHEAD:
            raise _impossible(iso.group(0))
        return moment
    classic = _SYSLOG_TIME.match(line)
    if classic is None:
        return None
    fields = (_MONTHS[classic.group("mon")], int(classic.group("day")))
    clock = (int(classic.group("h")), int(classic.group("m")), int(classic.group("s")))
    year = (now.astimezone(zone) if zone is not None else now.astimezone()).year
    for candidate in (year, year - 1):
        try:
            moment = _aware(dt.datetime(candidate, *fields, *clock), zone)
        except ValueError:  # Feb 29 of a common year, or 24:00:00
            continue
        if moment - now <= _AHEAD:
            return moment
    raise _impossible(classic.group(0))


def _impossible(stamp: str) -> MalformedReportError:
    return MalformedReportError("bad_timestamp", f"no such moment: {stamp.strip()[:40]}")


_POSTFIX = re.compile(
    r"postfix(?:-[\w]+)?(?:/[\w.-]+)*/(?:smtp|lmtp|error|local|virtual|pipe|retry)\[\d+\]: "
    r"(?P<qid>[0-9A-Za-z]+): to=<(?P<rcpt>[^>]*)>,(?P<rest>.*)$"
)
_POSTFIX_STATUS = re.compile(
    # "status=expired, returned to sender (...)": a message given up after the queue time.
    r"\bstatus=(?P<status>sent|deferred|bounced|expired)(?:, returned to sender)?"
    r"(?: \((?P<detail>.*)\))?\s*$"
)
_POSTFIX_DSN = re.compile(r"\bdsn=(?P<dsn>[245]\.\d{1,3}\.\d{1,3})")
_POSTFIX_RELAY = re.compile(r"\brelay=(?P<host>[^\[,\s]+)")
_POSTFIX_HOST = re.compile(r"^host (?P<host>\S+?)\[[^\]]*\] said: ")
_IN_REPLY = re.compile(r"\s*\(in reply to [^)]*\)\s*$")
_EXIM = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [+-]\d{4})?(?: \[\d+\])? "
    r"(?P<id>[\w]{6}-[\w]{6,11}-[\w]{2,4}) (?P<flag>=>|->|\*\*|==) "
    r'(?P<rcpt>"(?:[^"\\]|\\.)*"@\S+|\S+)(?P<rest>.*)$'
)
_EXIM_REPLY = re.compile(r"(?<=: )[245]\d\d[\s-].*$")
_EXIM_HOST = re.compile(r"(?:\bH=|\bhost )(?P<host>[^\s\[]+) \[")


@dataclass(frozen=True, slots=True, repr=False)
class Attempt:
    """One delivery attempt of one recipient. ``recipient`` is raw (memory only)."""

    recipient: str
    outcome: str  # delivered, bounced, deferred
    reply: str | None
    dsn: str | None
    remote_host: str | None

    def __repr__(self) -> str:
        return f"Attempt(outcome={self.outcome!r}, dsn={self.dsn!r})"


def _address(text: str) -> str:
    return text.strip().strip("<>")


def _postfix(match: re.Match[str]) -> Attempt | None:
    rest = match.group("rest")
    status = _POSTFIX_STATUS.search(rest)
    if status is None:
        return None
    outcome = {"sent": "delivered", "bounced": "bounced", "expired": "bounced"}.get(
        status.group("status"), "deferred"
    )
    detail = status.group("detail") or ""
    host = _POSTFIX_HOST.match(detail)
    relay = _POSTFIX_RELAY.search(rest)
    remote = host.group("host") if host else (relay.group("host") if relay else None)
    if remote in ("none", "local"):
        remote = None
    reply = _IN_REPLY.sub("", detail[host.end() :] if host else detail) or None
    dsn = _POSTFIX_DSN.search(rest)
    return Attempt(
        _address(match.group("rcpt")), outcome, reply, dsn.group("dsn") if dsn else None, remote
    )


def _exim(match: re.Match[str]) -> Attempt | None:
    flag, rest = match.group("flag"), match.group("rest")
    if flag in ("=>", "->"):
        return Attempt(_address(match.group("rcpt")), "delivered", None, None, None)
    if "retry time not reached" in rest:
        return None  # no attempt was made
    host = _EXIM_HOST.search(rest)
    reply = _EXIM_REPLY.search(rest)
    # "** a@example.org: Unrouteable address": no router named, the colon ends the address.
    return Attempt(
        _address(match.group("rcpt").removesuffix(":")),
        "bounced" if flag == "**" else "deferred",
        reply.group(0) if reply else (rest.strip() or None),
        None,
        host.group("host") if host else None,
    )


def parse_line(line: str) -> Attempt | None:
    """The delivery attempt a Postfix or Exim log line records, or None."""
    postfix = _POSTFIX.search(line)
    if postfix is not None:
        return _postfix(postfix)
    exim = _EXIM.match(line)
    if exim is not None:
        return _exim(exim)
    return None


def _storable(recipient: str) -> bool:
    """A recipient the store can pseudonymise: local deliveries such as ``root@localhost``
    are not (their domain has no dot) and are not outbound mail either."""
    try:
        normalise_address(recipient)
    except PrivacyError:
        return False
    return True


def attempt_events(lines: Sequence[str], now: dt.datetime, zone: LogZone = None) -> list[Event]:
    """Events of the lines that record a delivery attempt (each keyed by its line), at
    the line's own time (``line_time``; ``now`` when it has none). Attempts whose stamp
    is impossible are skipped, with one warning per call naming the first stamp."""
    events = []
    impossible: list[str] = []
    for line in lines:
        attempt = parse_line(line.rstrip("\r\n"))
        if attempt is None or not _storable(attempt.recipient):
            continue
        key = hashlib.sha256(line.strip().encode("utf-8", "replace")).hexdigest()
        try:
            at = line_time(line.lstrip(), now, zone) or now
        except MalformedReportError as refused:
            impossible.append(refused.message)
            continue
        domain = attempt.recipient.rpartition("@")[2]
        if attempt.outcome == "delivered":
            provider = provider_of(recipient_domain=domain)
            events.append(
                Event(
                    type=EventType.DELIVERED,
                    campaign=UNATTRIBUTED,
                    occurred_at=at,
                    source=Source.MTALOG,
                    idempotency_key=key,
                    recipient=attempt.recipient,
                    provider=Provider(provider),
                )
            )
            continue
        reply = attempt.reply or attempt.dsn or ""
        found = classify_reply(
            reply, recipient_domain=domain, remote_host=attempt.remote_host, status=attempt.dsn
        )
        events.append(
            bounce_event(
                found,
                deferral=attempt.outcome == "deferred",
                reply=attempt.reply,
                campaign=UNATTRIBUTED,
                occurred_at=at,
                source=Source.MTALOG,
                key=key,
                recipient=attempt.recipient,
            )
        )
    if impossible:
        log.warning(
            "%d MTA log line(s) skipped: a timestamp that names no real moment or lies "
            "more than a day ahead (first: %s)",
            len(impossible),
            impossible[0],
        )
    return events


_HEAD = 256  # bytes: the start of a file, compared to tell a rewrite from an append
_PIECE = 1 << 20  # bytes read from a file at once
_LONGEST = 1 << 20  # bytes: a longer "line" is no log line (a run of NULs after a crash)
BATCH = 5_000  # lines handed over by one read, by default


class LogFollower:
    """New lines of one log file, across rotation (rename or truncate), a batch at a time.

    Memory does not grow with the file: it is read in pieces of 1 MiB; the complete lines
    of a piece wait for the next reads when a batch is full, and a partial last line for
    its end. A "line" over 1 MiB is skipped to its end, with a warning.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._inode: int | None = None
        self._lines: deque[str] = deque()  # complete lines read, not yet handed over
        self._partial = b""
        self._overlong = False  # skipping the rest of a line over _LONGEST bytes
        self._head = b""

    def _open(self) -> bool:
        try:
            self._file = self.path.open("rb")
        except FileNotFoundError:
            return False
        self._inode = os.fstat(self._file.fileno()).st_ino
        self._head = b""
        return True

    def read_new(self, *, final: bool = False, limit: int = BATCH) -> list[str]:
        """Complete lines written since the last call, at most ``limit``: the others come
        on the next calls (fewer than ``limit`` lines: the file was read to its end). A
        partial last line waits for the rest, unless ``final``: the file is read once,
        and its last line is complete.

        Raises:
            ValueError: ``limit`` is below 1.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if self._file is None and not self._open():
            return []
        assert self._file is not None
        if self._rewritten():  # truncated and written again since the last read
            self._restart()
        lines = self._drain(limit)
        if len(lines) >= limit:
            return lines  # not at the end: rotation is looked for once it is reached
        try:
            current = self.path.stat()
        except FileNotFoundError:
            return lines + self._rest(final)  # rotated away, not yet re-created
        if current.st_ino != self._inode:  # renamed: the old file is read to its end
            self._file.close()
            self._file = None
            # The old file is done: a last line without its newline is complete, as when
            # a file is read once, and comes before the new file's lines.
            self._lines.extend(self._rest(final=True))
            self._overlong = False
            if self._open():
                lines += self._drain(limit - len(lines))
        elif current.st_size < self._file.tell():  # truncated in place
            self._restart()
            lines += self._drain(limit - len(lines))
        if len(lines) >= limit:
            return lines
        return lines + self._rest(final)

    def _rewritten(self) -> bool:
        """The file's first bytes differ from the ones read: truncated, then written again
        (copytruncate), perhaps to the old size or beyond, between two reads."""
        assert self._file is not None
        if not self._head:
            return False
        now = os.pread(self._file.fileno(), _HEAD, 0)
        return now[: len(self._head)] != self._head[: len(now)] or len(now) < len(self._head)

    def _restart(self) -> None:
        """Read the file again from its start. Lines read before and not yet handed over
        were written: they still are."""
        assert self._file is not None
        self._file.seek(0)
        self._partial, self._overlong = b"", False
        self._head = b""

    def _rest(self, final: bool) -> list[str]:
        if not final:
            return []
        rest, self._partial = self._partial, b""
        text = rest.decode("utf-8", "replace")
        return [text] if text.strip() else []

    def _drain(self, limit: int) -> list[str]:
        """Up to ``limit`` complete lines, reading a piece at a time until there are."""
        assert self._file is not None
        lines: list[str] = []
        while True:
            while self._lines and len(lines) < limit:
                lines.append(self._lines.popleft())
            if len(lines) >= limit:
                break
            piece = self._file.read(_PIECE)
            if not piece:
                break
            self._split(piece)
        if len(self._head) < _HEAD:
            self._head = os.pread(self._file.fileno(), _HEAD, 0)
        return lines

    def _split(self, piece: bytes) -> None:
        """The complete lines of ``piece`` to the queue; its partial last line kept."""
        if self._overlong:  # the rest of a line too long to keep: skipped to its end
            end = piece.find(b"\n")
            if end < 0:
                return
            piece, self._overlong = piece[end + 1 :], False
        *complete, self._partial = (self._partial + piece).split(b"\n")
        for raw in complete:
            # Bytes that are not UTF-8 are replaced, line by line: a newline is never
            # part of a multi-byte sequence.
            line = raw.decode("utf-8", "replace")
            if line.strip():
                self._lines.append(line)
        if len(self._partial) > _LONGEST:
            log.warning(
                "an MTA log line longer than %d bytes skipped (not a log line?)",
                _LONGEST,
                extra={"path": str(self.path)},
            )
            self._partial, self._overlong = b"", True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def store_lines(
    lines: Sequence[str],
    store: Store,
    pseudonymizer: Pseudonymizer,
    now: dt.datetime,
    emit: Callable[[dict[str, object]], None] | None = None,
    *,
    zone: LogZone = None,
) -> int:
    """Store the attempts of ``lines``; returns how many events were new."""
    events = attempt_events(lines, now, zone)
    if not events:
        return 0
    result = await store.add_events(events, pseudonymizer)
    if emit is not None:
        for event in events:
            if event.bounce is not None:
                emit(
                    {
                        "provider": event.provider.value,
                        "class": event.bounce.cls,
                        "deferral": event.bounce.deferral,
                        "status": event.bounce.status,
                        "enhanced": event.bounce.enhanced,
                        "blocklist": event.bounce.blocklist,
                    }
                )
    return result.accepted


async def follow_logs(
    paths: Sequence[Path | None],
    store: Store,
    pseudonymizer: Pseudonymizer,
    *,
    follow: bool,
    emit: Callable[[dict[str, object]], None] | None = None,
    poll: float = 0.5,
    batch: int = 500,
    zone: LogZone = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Read the logs (None: stdin) into the store, ``batch`` lines at a time (each batch
    stored before the next is read); with ``follow`` until ``stop`` is set (or the task
    is cancelled).

    ``stop`` is only looked at between passes: a batch being written when it is set is
    written to the end, and the files are read on (a batch at a time) to the end they
    had when it was set, or later.

    Returns the events newly stored (a line read before counts nothing).
    """
    stored = 0

    async def flush(lines: list[str]) -> None:  # one batch: at most ``batch`` lines
        nonlocal stored
        stored += await store_lines(
            lines, store, pseudonymizer, dt.datetime.now(dt.UTC), emit, zone=zone
        )

    if None in paths:
        while lines := await asyncio.to_thread(_stdin_lines, batch):
            await flush(lines)
    stop = stop or asyncio.Event()  # none given: only cancellation ends a follow
    followers = [LogFollower(p) for p in paths if p is not None]
    try:
        while followers:
            # Set before this pass: the pass is the last, and reads what was written
            # before the signal.
            stopping = stop.is_set()
            behind = False  # a file gave a whole batch: it may hold more
            for follower in followers:
                lines = await asyncio.to_thread(follower.read_new, final=not follow, limit=batch)
                await flush(lines)
                behind = behind or len(lines) >= batch
            if behind:
                continue  # read on, a batch at a time, before waiting or ending
            if not follow or stopping:
                break
            with contextlib.suppress(TimeoutError):  # the poll interval, or the stop
                await asyncio.wait_for(stop.wait(), poll)
    finally:
        for follower in followers:
            follower.close()
    return stored


def _stdin_lines(limit: int) -> list[str]:
    """Up to ``limit`` lines of stdin, read as bytes and decoded as the files are (bytes
    that are not UTF-8 replaced): the text layer's decoding depends on the locale, and
    under a C locale it hands over surrogates that cannot be stored."""
    lines = []
    for raw in sys.stdin.buffer:
        lines.append(raw.decode("utf-8", "replace"))
        if len(lines) >= limit:
            break
    return lines
