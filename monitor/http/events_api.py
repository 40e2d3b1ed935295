"""``POST /api/v1/events``: validated whole, stored, then acknowledged (202).

A batch with any invalid event is refused whole (400, with per-item errors) and
nothing of it is stored; re-sent events with the same idempotency key count once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from monitor.events import Category, Consent, Event, EventType, Provider, Source
from monitor.http.errors import json_error
from monitor.ingest.providers import provider_of_address
from monitor.privacy import PrivacyError, normalise_address

__all__ = ["MAX_BATCH", "EventIn", "parse_batch"]

MAX_BATCH = 10_000
_CAMPAIGN = r"^[\x21-\x7e]{1,128}$"  # printable ASCII, no spaces: it becomes a metric label


class EventIn(BaseModel):
    """One event of the request body (DESIGN.md §2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EventType
    campaign: Annotated[str, Field(pattern=_CAMPAIGN)]
    count: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    recipient: Annotated[str, Field(max_length=320)] | None = None
    category: Category | None = None
    consent: Consent | None = None
    provider: Provider | None = None
    timestamp: AwareDatetime | None = None
    id: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: Annotated[list[dict[str, object]], Field(min_length=1, max_length=MAX_BATCH)]


def parse_batch(body: object, now: dt.datetime) -> tuple[list[Event], list[dict[str, object]]]:
    """Events of a request body, or the per-item errors that refuse it (never both)."""
    try:
        batch = BatchIn.model_validate(body)
    except ValidationError as exc:
        return [], [
            {"index": None, "field": _loc(e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
    events: list[Event] = []
    errors: list[dict[str, object]] = []
    for index, raw in enumerate(batch.events):
        try:
            item = EventIn.model_validate(raw)
            if item.recipient is not None:
                normalise_address(item.recipient)
        except ValidationError as exc:
            errors += [
                {"index": index, "field": _loc(e["loc"]), "message": e["msg"]} for e in exc.errors()
            ]
            continue
        except PrivacyError:
            errors.append(
                {"index": index, "field": "recipient", "message": "not an e-mail address"}
            )
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
    return ".".join(str(part) for part in loc)


def refuse(errors: list[dict[str, object]]) -> web.Response:
    return json_error(400, "invalid events: the batch was refused whole", errors=errors)
