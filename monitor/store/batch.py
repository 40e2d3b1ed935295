"""Turning a batch of events into rows, before any I/O: pure functions.

Pseudonymisation happens here, first, so an address that cannot be
normalised refuses the whole batch before anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from monitor.model.events import (
    MAX_SCOPE_LENGTH,
    BounceKind,
    Category,
    Consent,
    Event,
    EventType,
)
from monitor.model.privacy import Pseudonymizer
from monitor.store.models import SuppressionReason
from monitor.store.rates import floor_hour
from monitor.store.schema import (
    COUNTER_COLUMNS,
    MAX_CAMPAIGN_LENGTH,
    MAX_LABEL_LENGTH,
)

__all__ = [
    "UNKNOWN_CATEGORY",
    "UNSUBSCRIBE_DEADLINE",
    "CampaignLabels",
    "CounterKey",
    "PreparedEvent",
    "bounce_counter_rows",
    "counter_deltas",
    "counter_rows",
    "deadline_candidates",
    "prepare_events",
    "split_in_batch_duplicates",
    "suppression_rows",
    "violating_sends",
]

# Gmail and Yahoo (Feb 2024): honour an unsubscribe within two days.
UNSUBSCRIBE_DEADLINE = dt.timedelta(hours=48)
# Counters are keyed on the category and consent an event carried itself, this when it
# carried none: the read (``SqlStore.counts``) gives those counts the campaign's labels as
# registered then, so a campaign registered late, or re-registered with another category,
# moves its unlabelled counts with it.
UNKNOWN_CATEGORY = "unknown"

CampaignLabels = Mapping[str, tuple[Category | None, Consent | None]]


@dataclass(frozen=True, slots=True)
class CounterKey:
    campaign: str
    provider: str
    category: str
    consent: str
    bucket: dt.datetime


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event with its recipient replaced by a pseudonym and its key hashed."""

    event: Event
    pseudonym: str | None
    key_sha256: str | None


def prepare_events(events: Iterable[Event], pseudonymizer: Pseudonymizer) -> list[PreparedEvent]:
    """Pseudonymise recipients and hash idempotency keys.

    Raises:
        PrivacyError: a recipient is not an address.
        ValueError: an empty campaign or one over 200 characters, or a
            feedback type over 32 or a scope over 255 (the columns' widths, on every
            backend).
    """
    prepared = []
    for event in events:
        if not 0 < len(event.campaign) <= MAX_CAMPAIGN_LENGTH:
            raise ValueError(f"campaign must be 1 to {MAX_CAMPAIGN_LENGTH} characters")
        if event.feedback_type is not None and len(event.feedback_type) > MAX_LABEL_LENGTH:
            raise ValueError(f"feedback_type must be at most {MAX_LABEL_LENGTH} characters")
        if event.scope is not None and len(event.scope) > MAX_SCOPE_LENGTH:
            raise ValueError(f"scope must be at most {MAX_SCOPE_LENGTH} characters")
        pseudonym = None if event.recipient is None else pseudonymizer.pseudonym(event.recipient)
        key = event.idempotency_key
        key_sha256 = None if key is None else hashlib.sha256(key.encode("utf-8")).hexdigest()
        prepared.append(PreparedEvent(event, pseudonym, key_sha256))
    return prepared


def split_in_batch_duplicates(
    prepared: Sequence[PreparedEvent],
) -> tuple[list[PreparedEvent], int]:
    """Drop events whose (source, key) appeared earlier in the same batch; count them."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in prepared:
        if item.key_sha256 is not None:
            ident = (item.event.source.value, item.key_sha256)
            if ident in seen:
                continue
            seen.add(ident)
        kept.append(item)
    return kept, len(prepared) - len(kept)


def resolve_labels(event: Event, labels: CampaignLabels) -> tuple[str, str]:
    """Category and consent: the campaign's registered ones, else the event's own (as
    ``SqlStore.counts`` reads them: a registered campaign is one group)."""
    registered_category, registered_consent = labels.get(event.campaign, (None, None))
    category = registered_category or event.category
    consent = registered_consent or event.consent or Consent.UNKNOWN
    return (category.value if category else UNKNOWN_CATEGORY), consent.value


_COLUMN_OF = {
    EventType.SENT: "sent",
    EventType.DELIVERED: "delivered",
    EventType.COMPLAINT: "complaints",
    EventType.UNSUBSCRIBE: "unsubscribes",
}
_BOUNCE_COLUMN = {kind: f"bounces_{kind.value}" for kind in BounceKind}
_COLUMN_INDEX = {name: index for index, name in enumerate(COUNTER_COLUMNS)}
_VIOLATIONS = _COLUMN_INDEX["unsubscribe_violations"]


def counter_column(event: Event) -> str:
    if event.type is EventType.BOUNCE:
        return _BOUNCE_COLUMN[event.bounce_kind or BounceKind.UNDETERMINED]
    return _COLUMN_OF[event.type]


# (campaign, provider, category, consent, bucket) -> one count per COUNTER_COLUMNS.
_Grouped = dict[tuple[str, str, str, str, dt.datetime], list[int]]


def _own_labels(event: Event) -> tuple[str, str]:
    """The category and consent the event carried, ``unknown`` for each it did not."""
    category = event.category.value if event.category else UNKNOWN_CATEGORY
    return category, (event.consent or Consent.UNKNOWN).value


def _group_counts(
    accepted: Iterable[PreparedEvent], violating: Iterable[PreparedEvent]
) -> _Grouped:
    """Sum the events per counter row (one pass; hours looked up once each)."""
    grouped: _Grouped = {}
    width = len(COUNTER_COLUMNS)

    def add(event: Event, column: int) -> None:
        key = (
            event.campaign,
            event.provider.value,
            *_own_labels(event),
            floor_hour(event.occurred_at),
        )
        row = grouped.get(key)
        if row is None:
            row = grouped[key] = [0] * width
        row[column] += event.count

    for item in accepted:
        if item.event.bounce is not None and item.event.bounce.deferral:
            continue  # a retry in progress is not a bounce (bounce_counters counts it)
        add(item.event, _COLUMN_INDEX[counter_column(item.event)])
    for item in violating:
        add(item.event, _VIOLATIONS)
    return grouped


def counter_deltas(
    accepted: Iterable[PreparedEvent], violating: Iterable[PreparedEvent] = ()
) -> dict[CounterKey, dict[str, int]]:
    """Sum accepted events, and the sends among them that broke the deadline, per counter row."""
    return {
        CounterKey(*key): {name: n for name, n in zip(COUNTER_COLUMNS, counts, strict=True) if n}
        for key, counts in _group_counts(accepted, violating).items()
    }


def counter_rows(
    accepted: Iterable[PreparedEvent],
    violating: Iterable[PreparedEvent],
    bind_time: Callable[[dt.datetime], object],
) -> list[tuple[object, ...]]:
    """``counter_deltas`` as upsert rows (key columns, then ``COUNTER_COLUMNS``), in key order.

    One key order for every writer: two replicas never wait on each other in a cycle.
    """
    grouped = _group_counts(accepted, violating)
    return [(*key[:4], bind_time(key[4]), *grouped[key]) for key in sorted(grouped)]


def bounce_counter_rows(
    accepted: Iterable[PreparedEvent], bind_time: Callable[[dt.datetime], object]
) -> list[tuple[object, ...]]:
    """Bounces and deferrals with a classified reply, summed per (campaign, provider,
    class, list, hour): upsert rows in key order (``bounce_counters``)."""
    grouped: dict[tuple[str, str, str, str, dt.datetime], list[int]] = {}
    for item in accepted:
        detail = item.event.bounce
        if detail is None:
            continue
        event = item.event
        key = (
            event.campaign,
            event.provider.value,
            detail.cls,
            detail.blocklist or "",
            floor_hour(event.occurred_at),
        )
        row = grouped.setdefault(key, [0, 0])
        row[1 if detail.deferral else 0] += event.count
    return [(*key[:4], bind_time(key[4]), *grouped[key]) for key in sorted(grouped)]


_SUPPRESSING = {
    EventType.COMPLAINT: SuppressionReason.COMPLAINT,
    EventType.UNSUBSCRIBE: SuppressionReason.UNSUBSCRIBE,
}


def suppression_reason(event: Event) -> SuppressionReason | None:
    if event.bounce is not None and event.bounce.deferral:
        return None
    if event.type is EventType.BOUNCE and event.bounce_kind is BounceKind.PERMANENT:
        return SuppressionReason.BOUNCE
    return _SUPPRESSING.get(event.type)


def suppression_rows(
    accepted: Iterable[PreparedEvent],
) -> dict[tuple[str, SuppressionReason], dt.datetime]:
    """Earliest time per (pseudonym, reason) among the suppressing events of a batch: when
    each became known (``Event.known_at``), which the unsubscribe deadline runs from."""
    rows: dict[tuple[str, SuppressionReason], dt.datetime] = {}
    for item in accepted:
        reason = suppression_reason(item.event)
        if item.pseudonym is None or reason is None:
            continue
        key = (item.pseudonym, reason)
        at = (item.event.known_at or item.event.occurred_at).astimezone(dt.UTC)
        if key not in rows or at < rows[key]:
            rows[key] = at
    return rows


def deadline_candidates(
    accepted: Iterable[PreparedEvent], labels: CampaignLabels
) -> list[PreparedEvent]:
    """Sends to a known recipient that an opt-out could forbid (transactional mail is exempt)."""
    return [
        item
        for item in accepted
        if item.event.type is EventType.SENT
        and item.pseudonym is not None
        and resolve_labels(item.event, labels)[0] != Category.TRANSACTIONAL
    ]


def violating_sends(
    candidates: Iterable[PreparedEvent], opted_out_at: Mapping[str, dt.datetime]
) -> list[PreparedEvent]:
    """The sends made more than 48 h after their recipient's first opt-out.

    Opt-out = unsubscribe or complaint (RFC 8058 one-click and the bulk-sender
    rules give two days to honour it); a bounce suppression is not an opt-out.
    """
    found = []
    for item in candidates:
        first = opted_out_at.get(item.pseudonym or "")
        if first is not None and item.event.occurred_at - first > UNSUBSCRIBE_DEADLINE:
            found.append(item)
    return found
