"""Microsoft SNDS automated data access: the CSV answers parsed (pure).

``data.aspx?key=KEY[&date=MMDDYY]``: headerless CSV, one line per IP and activity
period, 14 columns in this order: IP address, activity start, activity end, RCPT
commands, DATA commands, message recipients, filter result (GREEN/YELLOW/RED),
complaint rate (e.g. ``< 0.1%``), trap message start, trap message end, trap hits,
sample HELO, sample MAIL FROM, comments. Times print as ``M/D/YYYY h:mm AM``.
``ipStatus.aspx?key=KEY``: headerless CSV ``first IP,last IP,blocked (Yes),reason``.
(SNDS FAQ and automated-access page at sendersupport.olc.protection.outlook.com/snds;
the column order as the open-source SNDS readers use it: sndslib, AbuseIO.)
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from monitor.model.errors import MonitorError
from monitor.model.telemetry import FilterResult, SndsBlock, SndsRow

__all__ = [
    "BlockIndex",
    "ParsedCsv",
    "SndsFormatError",
    "blocked_ranges_for",
    "csv_text",
    "parse_data",
    "parse_ip_status",
    "worst_of",
]

_T = TypeVar("_T")
_TIME_FORMATS = ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y")
_MAX_TEXT = 255


@dataclass(frozen=True, slots=True)
class ParsedCsv(Generic[_T]):
    """The lines that parsed, and how many did not (reported, never guessed at)."""

    items: tuple[_T, ...]
    refused: int = 0


class SndsFormatError(MonitorError):
    """An answer that is not SNDS's CSV (``reason``: not_text, not_csv); never quotes it."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the SNDS answer is {reason.replace('_', ' ')}")
        self.reason = reason


def csv_text(data: bytes) -> str:
    """An answer's body as the CSV text the parsers read. A byte that is not UTF-8 (in a
    sample HELO or MAIL FROM, which the sender's servers wrote) is replaced: the fields
    that count are ASCII, and one such byte must not lose the whole day.

    Raises:
        SndsFormatError: not text at all, such as UTF-16 or binary (a NUL byte:
            ``not_text``), or an HTML page, such as a sign-in or error page, instead of
            data (``not_csv``).
    """
    if b"\x00" in data:
        raise SndsFormatError("not_text")
    text = data.decode("utf-8-sig", "replace")
    if text.lstrip().startswith("<"):
        raise SndsFormatError("not_csv")
    return text


def _lines(text: str) -> Iterable[list[str] | None]:
    """Each non-blank line's fields (a CSV reader per line: a quoted HELO may hold a comma);
    None for a line that is not CSV (a stray quote or control character)."""
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            yield None
            continue
        if any(f.strip() for f in fields):
            yield [f.strip() for f in fields]


def _time(value: str) -> dt.datetime | None:
    """An SNDS time (the timezone is not documented: taken as UTC)."""
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


# Digits a count may have: more than any IP sends in a day, and within the store's 64-bit
# integers (a longer one crashed the import's transaction, losing the whole answer).
_MAX_COUNT_DIGITS = 15


def _count(value: str) -> int | None:
    if value == "":
        return 0
    ok = value.isascii() and value.isdigit() and len(value) <= _MAX_COUNT_DIGITS
    return int(value) if ok else None


def _ip(value: str) -> str | None:
    """The address as the config writes it: an IPv4-mapped IPv6 address is its IPv4."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return str(mapped or ip)


def _row(fields: Sequence[str]) -> SndsRow | None:
    if len(fields) < 11:
        return None
    fields = [*fields, "", "", ""][:14]
    ip = _ip(fields[0])
    start, end = _time(fields[1]), _time(fields[2])
    counts = [_count(fields[i]) for i in (3, 4, 5, 10)]
    trap_start = _time(fields[8]) if fields[8] else None
    trap_end = _time(fields[9]) if fields[9] else None
    if ip is None or start is None or end is None or any(c is None for c in counts):
        return None
    if (fields[8] and trap_start is None) or (fields[9] and trap_end is None):
        return None  # a trap period that is not two dates: a different column layout
    rcpt, data, recipients, traps = (c or 0 for c in counts)
    result: FilterResult | None = None
    if fields[6].strip():
        try:
            result = FilterResult(fields[6].strip().lower())
        except ValueError:
            # A value SNDS does not document: stored as "no result" it would replace a
            # period's red with what reads as all clear. Refused, and counted as such.
            return None
    return SndsRow(
        ip=ip,
        activity_start=start,
        activity_end=end,
        rcpt_commands=rcpt,
        data_commands=data,
        recipients=recipients,
        filter_result=result,
        complaint_rate=fields[7][:_MAX_TEXT],
        trap_start=trap_start,
        trap_end=trap_end,
        trap_hits=traps,
        sample_helo=fields[11][:_MAX_TEXT],
        sample_mail_from=fields[12][:_MAX_TEXT],
        comments=fields[13][:_MAX_TEXT],
    )


def parse_data(text: str, latest: dt.datetime | None = None) -> ParsedCsv[SndsRow]:
    """data.aspx's answer; an empty body is a day without data (no row, not a zero).
    With ``latest``, a line whose period ends after it is refused: a date in the future
    would otherwise stand as the IP's latest period (and hide every real one) for years.

    Two lines for one IP and activity period are one line repeated when they are equal;
    when they differ, each signal keeps its worse value (the filter result, the complaint
    band, the trap hits with their window) and the other line is counted as refused: the
    last line must not turn a period's red into green, nor hide another line's trap hits.
    """
    rows: dict[tuple[str, dt.datetime, dt.datetime], SndsRow] = {}
    variants: dict[tuple[str, dt.datetime, dt.datetime], set[SndsRow]] = {}
    refused = 0
    for fields in _lines(text):
        row = _row(fields) if fields is not None else None
        if row is None or (latest is not None and row.activity_end > latest):
            refused += 1
            continue
        key = (row.ip, row.activity_start, row.activity_end)
        lines = variants.setdefault(key, set())
        if row in lines:
            continue  # a line repeated as it was
        lines.add(row)
        seen = rows.get(key)
        if seen is None:
            rows[key] = row
        else:
            refused += 1
            rows[key] = worst_of(seen, row)
    return ParsedCsv(tuple(rows.values()), refused)


_FILTER_RANK = {None: 0, FilterResult.GREEN: 1, FilterResult.YELLOW: 2, FilterResult.RED: 3}


def worst_of(first: SndsRow, second: SndsRow) -> SndsRow:
    """One line from two for the same period: the worse of each signal."""
    worse_filter = max(first, second, key=lambda r: _FILTER_RANK[r.filter_result])
    worse_band = max(first, second, key=lambda r: _complaint_level(r.complaint_rate))
    more_traps = max(first, second, key=lambda r: r.trap_hits)
    return dataclasses.replace(
        worse_filter,
        complaint_rate=worse_band.complaint_rate,
        trap_hits=more_traps.trap_hits,
        trap_start=more_traps.trap_start,
        trap_end=more_traps.trap_end,
    )


_PERCENT = re.compile(r"\d+(?:\.\d+)?")


def _complaint_level(text: str) -> float:
    """SNDS's complaint band as a number to compare: "< 0.1%" below 0.1, "> 0.3%" above
    0.3, a range at its top; -1 when it names no number."""
    numbers = [float(n) for n in _PERCENT.findall(text)]
    if not numbers:
        return -1.0
    top = max(numbers)
    stripped = text.strip()
    if stripped.startswith("<"):
        return top - 1e-9
    if stripped.startswith(">"):
        return top + 1e-9
    return top


def parse_ip_status(text: str) -> ParsedCsv[SndsBlock]:
    """ipStatus.aspx's answer: the blocked ranges (an empty body: nothing blocked). A range
    written high to low is read low to high; a line that is not a range is refused."""
    blocks = []
    refused = 0
    for fields in _lines(text):
        if fields is None:
            refused += 1
            continue
        first = _ip(fields[0]) if fields else None
        last = _ip(fields[1]) if len(fields) > 1 else None
        if first is None or last is None or len(fields) < 3:
            refused += 1
            continue
        low, high = ipaddress.ip_address(first), ipaddress.ip_address(last)
        if low.version != high.version:
            refused += 1
            continue
        if high < low:  # type: ignore[operator]  # the same family, checked above
            first, last = last, first  # a range written high to low is still that range
        reason = ",".join(fields[3:])[:_MAX_TEXT]
        blocks.append(SndsBlock(first, last, fields[2].lower() == "yes", reason))
    return ParsedCsv(tuple(blocks), refused)


def blocked_ranges_for(ip: str, blocks: Iterable[SndsBlock]) -> list[SndsBlock]:
    """The blocked ranges that contain ``ip`` (inclusive), in the list's order. For many
    IPs against one list, build a ``BlockIndex`` once."""
    return BlockIndex(blocks).ranges_for(ip)


class BlockIndex:
    """An IP-status list's blocked ranges, for looking up many IPs: the ranges sorted by
    their first address per family, with the highest last address so far beside each, so
    a lookup is a bisection and a walk back over the ranges that can still contain the
    address (an account of 200,000 IPs against a list of 1,000 ranges took hours when each
    IP parsed and compared every range)."""

    __slots__ = ("_by_family",)

    def __init__(self, blocks: Iterable[SndsBlock]) -> None:
        ranges: dict[int, list[tuple[int, int, int, SndsBlock]]] = {4: [], 6: []}
        for order, block in enumerate(blocks):
            if not block.blocked:
                continue
            low = ipaddress.ip_address(block.first_ip)
            high = ipaddress.ip_address(block.last_ip)
            if low.version != high.version:
                continue
            ranges[low.version].append((int(low), int(high), order, block))
        self._by_family: dict[
            int, tuple[list[int], list[int], list[tuple[int, int, int, SndsBlock]]]
        ] = {}
        for version, found in ranges.items():
            found.sort(key=lambda r: (r[0], r[2]))
            reach: list[int] = []
            highest = -1
            for entry in found:
                highest = max(highest, entry[1])
                reach.append(highest)
            self._by_family[version] = ([r[0] for r in found], reach, found)

    def ranges_for(self, ip: str) -> list[SndsBlock]:
        """The blocked ranges that contain ``ip`` (inclusive), in the list's order."""
        address = ipaddress.ip_address(ip)
        firsts, reach, found = self._by_family[address.version]
        value = int(address)
        hits = []
        at = bisect.bisect_right(firsts, value) - 1
        while at >= 0 and reach[at] >= value:
            _first, last, order, block = found[at]
            if last >= value:
                hits.append((order, block))
            at -= 1
        return [block for _order, block in sorted(hits, key=lambda h: h[0])]
