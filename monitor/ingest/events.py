"""The events batch of ``POST /api/v1/events`` into events: validated whole, or per-item errors.

A batch with any invalid event is refused whole (400, with per-item errors) and nothing
of it is stored. Pure: the HTTP route reads the body and stores what this returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
)

from monitor.ingest.providers import provider_of_address
from monitor.model.events import Category, Consent, Event, EventType, Provider, Source
from monitor.model.jsontext import loads_strict
from monitor.model.privacy import PrivacyError, normalise_address

__all__ = ["MAX_AHEAD", "MAX_BATCH", "EventIn", "parse_batch", "parse_batch_body"]

MAX_BATCH = 10_000
MAX_AHEAD = dt.timedelta(days=1)  # clocks drift; an event further ahead is refused
_CAMPAIGN = r"^[\x21-\x3f\x41-\x7e]{1,128}$"  # printable ASCII, no space, no @: a metric label


class EventIn(BaseModel):
    """One event of the request body (DESIGN.md §2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EventType
    campaign: Annotated[str, Field(pattern=_CAMPAIGN)]
    count: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1  # not true, 1.0 or "1"
    recipient: Annotated[str, Field(max_length=320)] | None = None
    category: Category | None = None
    consent: Consent | None = None
    provider: Provider | None = None
    timestamp: AwareDatetime | None = None
    id: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: Annotated[list[dict[str, object]], Field(min_length=1, max_length=MAX_BATCH)]


class _ValidBatchIn(BaseModel):
    """A body whose events are all valid, validated in one call (the common case)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


_EVENTS = TypeAdapter(list[EventIn])


def parse_batch(body: object, now: dt.datetime) -> tuple[list[Event], list[dict[str, object]]]:
    """Events of a request body, or the per-item errors that refuse it (never both)."""
    # Fast path: body and events in one call, when every event is a dict (as BatchIn
    # requires). Anything it refuses goes the long way, which builds the errors.
    items = _valid_events(body)
    if items is None:
        try:
            batch = BatchIn.model_validate(body)
        except ValidationError as exc:
            return [], [
                {"index": None, "field": _loc(e["loc"]), "message": _message(e)}
                for e in exc.errors()
            ]
        try:
            items = _EVENTS.validate_python(batch.events)
        except ValidationError:
            return _parse_each(batch.events, now)
    events: list[Event] = []
    errors: list[dict[str, object]] = []
    for index, item in enumerate(items):
        if item.recipient is not None:
            try:
                normalise_address(item.recipient)
            except PrivacyError:
                errors.append(
                    {"index": index, "field": "recipient", "message": "not an e-mail address"}
                )
                continue
        problem = _problem(item, now)
        if problem is not None:
            errors.append({"index": index, "field": problem[0], "message": problem[1]})
            continue
        events.append(_event(item, now))
    return ([], errors) if errors else (events, [])


def _problem(item: EventIn, now: dt.datetime) -> tuple[str, str] | None:
    """(field, why) ``item`` cannot be counted, or None."""
    if item.recipient is not None and item.count != 1:
        # One person's complaint counted as 500 would fire a campaign's alert on its own.
        return "count", "must be 1 with a recipient: one person is one event"
    problem = _time_problem(item, now)
    return None if problem is None else ("timestamp", problem)


def _time_problem(item: EventIn, now: dt.datetime) -> str | None:
    """Why ``item``'s timestamp cannot be counted, or None. A moment far ahead would sit in
    every "last hour" window until it came; one with no UTC equivalent cannot be stored."""
    if item.timestamp is None:
        return None
    try:
        moment = item.timestamp.astimezone(dt.UTC)
    except OverflowError:
        return "out of range"
    if moment - now > MAX_AHEAD:
        return "more than a day ahead of the server's clock"
    return None


def _valid_events(body: object) -> list[EventIn] | None:
    """The events of a body that is valid as a whole, else None."""
    if not isinstance(body, dict):
        return None
    raw = body.get("events")
    if not isinstance(raw, list) or not all(type(item) is dict for item in raw):
        return None
    try:
        return _ValidBatchIn.model_validate(body).events
    except ValidationError:
        return None


def _parse_each(
    raw_events: Sequence[dict[str, object]], now: dt.datetime
) -> tuple[list[Event], list[dict[str, object]]]:
    """One model per event, collecting every event's errors with its index."""
    events: list[Event] = []
    errors: list[dict[str, object]] = []
    for index, raw in enumerate(raw_events):
        try:
            item = EventIn.model_validate(raw)
            if item.recipient is not None:
                normalise_address(item.recipient)
        except ValidationError as exc:
            errors += [
                {"index": index, "field": _loc(e["loc"]), "message": _message(e)}
                for e in exc.errors()
            ]
            continue
        except PrivacyError:
            errors.append(
                {"index": index, "field": "recipient", "message": "not an e-mail address"}
            )
            continue
        problem = _problem(item, now)
        if problem is not None:
            errors.append({"index": index, "field": problem[0], "message": problem[1]})
            continue
        events.append(_event(item, now))
    return ([], errors) if errors else (events, [])


def _event(item: EventIn, now: dt.datetime) -> Event:
    provider = item.provider or (
        provider_of_address(item.recipient) if item.recipient else Provider.OTHER
    )
    return Event(
        type=item.type,
        campaign=item.campaign,
        occurred_at=(item.timestamp or now).astimezone(dt.UTC),
        source=Source.API,
        idempotency_key=item.id,
        count=item.count,
        recipient=item.recipient,
        provider=provider,
        category=item.category,
        consent=item.consent,
    )


def _loc(loc: Sequence[int | str]) -> str:
    """Where pydantic found the error; a key with an '@' (an unknown field named with an
    address) is not echoed back."""
    return ".".join(_field_name(part) for part in loc)


def _field_name(part: int | str) -> str:
    text = str(part)
    return "<redacted>" if "@" in text or "%40" in text.lower() else text


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's message, in the API's words where it would name a class or a pattern."""
    kind, loc = error.get("type"), tuple(error.get("loc", ()))
    if kind == "model_type" and not loc:
        return 'the body must be a JSON object: {"events": [{"type": ..., "campaign": ...}]}'
    if kind == "string_pattern_mismatch" and loc[-1:] == ("campaign",):
        return "1 to 128 printable ASCII characters, without spaces or @"
    return str(error.get("msg", "invalid"))


def parse_batch_body(body: bytes, now: dt.datetime) -> tuple[list[Event], list[dict[str, object]]]:
    """``parse_batch`` of a raw request body (strict JSON first).

    Raises:
        JsonRefused: the body is not acceptable JSON (``monitor.model.jsontext``).
    """
    return parse_batch(loads_strict(body), now)
