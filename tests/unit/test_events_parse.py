"""``parse_batch``: the one-call fast path answers exactly as the per-event loop."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from monitor.ingest.events import _parse_each, parse_batch

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
GOOD = {"type": "sent", "campaign": "c1", "count": 3, "id": "k1"}
PERSON = {"type": "complaint", "campaign": "c1", "recipient": "A@Gmail.com", "id": "k2"}
NOT_ADDRESS = {"type": "unsubscribe", "campaign": "c1", "recipient": "nobody"}
BAD_TYPE = {"type": "opened", "campaign": "c1"}
EXTRA = {"type": "sent", "campaign": "c 1", "what": 1}
STAMPED = {"type": "delivered", "campaign": "c2", "timestamp": "2026-11-28T10:00:00+02:00"}


@pytest.mark.parametrize(
    "items",
    [
        [GOOD, PERSON, STAMPED],
        [GOOD, NOT_ADDRESS],
        [NOT_ADDRESS, GOOD, NOT_ADDRESS],
        [GOOD, BAD_TYPE, NOT_ADDRESS, EXTRA],
        [NOT_ADDRESS, BAD_TYPE],
    ],
)
def test_fast_path_matches_per_event_loop(items: list[dict[str, object]]) -> None:
    assert parse_batch({"events": items}, NOW) == _parse_each(items, NOW)


def test_privacy_errors_refuse_a_batch_that_validates() -> None:
    events, errors = parse_batch({"events": [GOOD, NOT_ADDRESS, PERSON, NOT_ADDRESS]}, NOW)
    assert events == []
    assert errors == [
        {"index": 1, "field": "recipient", "message": "not an e-mail address"},
        {"index": 3, "field": "recipient", "message": "not an e-mail address"},
    ]


def test_valid_batch_becomes_events() -> None:
    events, errors = parse_batch({"events": [GOOD, PERSON, STAMPED]}, NOW)
    assert errors == []
    assert [e.idempotency_key for e in events] == ["k1", "k2", None]
    assert events[0].occurred_at == NOW
    assert events[2].occurred_at == dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
    assert events[1].provider.value == "google"


@pytest.mark.parametrize("body", [{"events": [GOOD, ["sent"]]}, {"events": []}, [GOOD], {"x": 1}])
def test_bodies_the_fast_path_skips_are_refused_as_a_whole(body: object) -> None:
    events, errors = parse_batch(body, NOW)
    assert events == []
    assert errors
    assert all(error["index"] is None for error in errors)


def test_a_campaign_that_looks_like_an_address_is_refused() -> None:
    # campaign ids become metric labels: an address must never become one
    item = {"type": "sent", "campaign": "alice@example.com"}
    events, errors = parse_batch({"events": [GOOD, item]}, NOW)
    assert events == []
    assert [(e["index"], e["field"]) for e in errors] == [(1, "campaign")]


def test_the_readme_example_body_is_accepted_and_errors_speak_the_apis_words() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = readme[readme.index("**The events body**") :]
    example = section[
        section.index("```json") + 7 : section.index("```", section.index("```json") + 7)
    ]
    events, errors = parse_batch(json.loads(example), NOW)
    assert errors == []
    assert [e.type.value for e in events] == ["sent", "delivered", "unsubscribe"]
    assert events[0].count == 5000
    # A list instead of the object, and a campaign with a space: no class names, no regex.
    _, errors = parse_batch([{"type": "delivered"}], NOW)
    assert errors[0]["message"].startswith('the body must be a JSON object: {"events"')
    _, errors = parse_batch({"events": [{"type": "sent", "campaign": "a b"}]}, NOW)
    assert errors == [
        {
            "index": 0,
            "field": "campaign",
            "message": "1 to 128 printable ASCII characters, without spaces or @",
        }
    ]


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ("0001-01-01T00:00:00+14:00", "out of range"),
        ("9999-12-31T23:59:59-14:00", "out of range"),
        ("9999-12-31T00:00:00Z", "more than a day ahead of the server's clock"),
        ("2026-11-29T13:00:00Z", "more than a day ahead of the server's clock"),
    ],
)
def test_a_timestamp_out_of_range_or_far_ahead_refuses_the_batch(stamp: str, message: str) -> None:
    body = {"events": [GOOD, {"type": "complaint", "campaign": "c1", "timestamp": stamp}]}
    events, errors = parse_batch(body, NOW)
    assert events == []
    assert errors == [{"index": 1, "field": "timestamp", "message": message}]
    ahead = {"type": "sent", "campaign": "c1", "timestamp": "2026-11-29T11:00:00Z"}
    assert len(parse_batch({"events": [ahead]}, NOW)[0]) == 1  # clocks drift: a day is fine


@pytest.mark.parametrize("count", [True, 1.0, 1e2, "3"])
def test_count_is_a_json_integer(count: object) -> None:
    _, errors = parse_batch({"events": [{"type": "sent", "campaign": "c1", "count": count}]}, NOW)
    assert [(e["index"], e["field"]) for e in errors] == [(0, "count")]


@pytest.mark.parametrize("kind", ["complaint", "unsubscribe", "sent"])
def test_a_count_above_one_with_a_recipient_is_refused(kind: str) -> None:
    """One person's complaint with count 500 counted 500 complaints (an outside review)."""
    one = {"type": kind, "campaign": "c", "recipient": "someone@example.com"}
    body = {"events": [{"type": "sent", "campaign": "c", "count": 500}, {**one, "count": 500}]}
    assert parse_batch(body, NOW) == (
        [],
        [
            {
                "index": 1,
                "field": "count",
                "message": "must be 1 with a recipient: one person is one event",
            }
        ],
    )
    assert _parse_each(body["events"], NOW)[1] == parse_batch(body, NOW)[1]
    events, errors = parse_batch({"events": [{**one, "count": 1}]}, NOW)
    assert (len(events), errors) == (1, [])
