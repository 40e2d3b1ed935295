"""Preparing an event batch for the store: pseudonyms only, key hashing, in-batch duplicates,
counter columns and labels, suppressions and the 48-hour unsubscribe deadline."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.model.events import BounceKind, Category, Consent, Event, EventType, Provider, Source
from monitor.model.privacy import PrivacyError, Pseudonymizer
from monitor.store.batch import (
    UNSUBSCRIBE_DEADLINE,
    CounterKey,
    counter_deltas,
    deadline_candidates,
    prepare_events,
    split_in_batch_duplicates,
    suppression_rows,
    violating_sends,
)
from monitor.store.models import ReportRecord, SuppressionReason

P = Pseudonymizer(b"k" * 32)
T0 = dt.datetime(2025, 3, 10, 10, 20, tzinfo=dt.UTC)


def ev(kind: EventType, **kw: object) -> Event:
    fields: dict[str, object] = {"campaign": "spring", "occurred_at": T0, "source": Source.API}
    fields.update(kw)
    return Event(kind, **fields)  # type: ignore[arg-type]  # test shorthand over typed fields


def test_prepare_keeps_only_pseudonyms_and_key_hashes() -> None:
    (item,) = prepare_events(
        [ev(EventType.SENT, recipient="Alice@Example.com", idempotency_key="alice@example.com")],
        P,
    )
    assert item.pseudonym == P.pseudonym("alice@example.com")
    assert item.key_sha256 is not None
    assert "alice" not in item.key_sha256
    assert len(item.key_sha256) == 64


@pytest.mark.parametrize(
    "fields",
    [{"campaign": ""}, {"campaign": "x" * 201}, {"feedback_type": "x" * 33}],
    ids=["empty-campaign", "long-campaign", "long-feedback-type"],
)
def test_prepare_refuses_values_wider_than_their_columns(fields: dict[str, str]) -> None:
    # SQLite would keep them and PostgreSQL refuse them: refuse on both, before writing.
    with pytest.raises(ValueError, match="must be"):
        prepare_events([ev(EventType.SENT, **fields)], P)


def test_prepare_refuses_a_batch_with_a_non_address() -> None:
    with pytest.raises(PrivacyError):
        prepare_events(
            [ev(EventType.SENT, recipient="a@example.com"), ev(EventType.SENT, recipient="nope")], P
        )


def test_same_key_twice_in_a_batch_is_one_event_and_one_duplicate() -> None:
    batch = prepare_events(
        [
            ev(EventType.SENT, idempotency_key="k1"),
            ev(EventType.SENT, idempotency_key="k1"),
            ev(EventType.SENT, idempotency_key="k1", source=Source.SES),
            ev(EventType.SENT),
            ev(EventType.SENT),
        ],
        P,
    )
    kept, duplicates = split_in_batch_duplicates(batch)
    assert (len(kept), duplicates) == (4, 1)


def test_counter_deltas_map_types_and_bounce_kinds_to_columns() -> None:
    batch = prepare_events(
        [
            ev(EventType.SENT, count=10),
            ev(EventType.DELIVERED, count=9),
            ev(EventType.BOUNCE, bounce_kind=BounceKind.PERMANENT),
            ev(EventType.BOUNCE, bounce_kind=BounceKind.TRANSIENT),
            ev(EventType.BOUNCE),
            ev(EventType.COMPLAINT),
            ev(EventType.UNSUBSCRIBE, count=2),
        ],
        P,
    )
    ((key, values),) = counter_deltas(batch).items()
    assert key == CounterKey(
        "spring", "other", "unknown", "unknown", dt.datetime(2025, 3, 10, 10, tzinfo=dt.UTC)
    )
    assert values == {
        "sent": 10,
        "delivered": 9,
        "bounces_permanent": 1,
        "bounces_transient": 1,
        "bounces_undetermined": 1,
        "complaints": 1,
        "unsubscribes": 2,
    }


def test_counters_key_on_the_labels_the_event_carried_not_the_registered_ones() -> None:
    """The registration is applied when counts are read (SqlStore.counts), so that a
    re-registered campaign moves its unlabelled counts with it."""
    batch = prepare_events(
        [
            ev(EventType.SENT, provider=Provider.GOOGLE),
            ev(EventType.SENT, category=Category.TRANSACTIONAL, consent=Consent.TRANSACTIONAL),
        ],
        P,
    )
    keys = {(k.provider, k.category, k.consent) for k in counter_deltas(batch)}
    assert keys == {
        ("google", "unknown", "unknown"),
        ("other", "transactional", "transactional"),
    }


def test_suppressions_from_complaints_unsubscribes_and_permanent_bounces_only() -> None:
    later = T0 + dt.timedelta(hours=1)
    batch = prepare_events(
        [
            ev(EventType.UNSUBSCRIBE, recipient="a@example.com", occurred_at=later),
            ev(EventType.UNSUBSCRIBE, recipient="a@example.com"),
            ev(EventType.COMPLAINT, recipient="b@example.com"),
            ev(EventType.BOUNCE, recipient="c@example.com", bounce_kind=BounceKind.PERMANENT),
            ev(EventType.BOUNCE, recipient="d@example.com", bounce_kind=BounceKind.TRANSIENT),
            ev(EventType.COMPLAINT),  # no recipient: counted, nobody to suppress
        ],
        P,
    )
    assert suppression_rows(batch) == {
        (P.pseudonym("a@example.com"), SuppressionReason.UNSUBSCRIBE): T0,
        (P.pseudonym("b@example.com"), SuppressionReason.COMPLAINT): T0,
        (P.pseudonym("c@example.com"), SuppressionReason.BOUNCE): T0,
    }


@pytest.mark.parametrize(
    ("after", "violates"),
    [
        pytest.param(dt.timedelta(hours=47), False, id="within-48h"),
        pytest.param(UNSUBSCRIBE_DEADLINE, False, id="exactly-48h"),
        pytest.param(UNSUBSCRIBE_DEADLINE + dt.timedelta(seconds=1), True, id="after-48h"),
    ],
)
def test_a_send_more_than_48h_after_an_opt_out_violates(
    after: dt.timedelta, violates: bool
) -> None:
    batch = prepare_events(
        [ev(EventType.SENT, recipient="a@example.com", occurred_at=T0 + after)], P
    )
    found = violating_sends(deadline_candidates(batch, {}), {P.pseudonym("a@example.com"): T0})
    assert bool(found) is violates


def test_transactional_sends_and_anonymous_sends_are_not_deadline_candidates() -> None:
    labels = {"receipts": (Category.TRANSACTIONAL, None)}
    batch = prepare_events(
        [
            ev(EventType.SENT, recipient="a@example.com", campaign="receipts"),
            ev(EventType.SENT, recipient="a@example.com", category=Category.TRANSACTIONAL),
            ev(EventType.SENT),
            ev(EventType.DELIVERED, recipient="a@example.com"),
        ],
        P,
    )
    assert deadline_candidates(batch, labels) == []


def test_a_registered_campaign_is_judged_by_its_registration_not_an_events_label() -> None:
    """As its figures are read (SqlStore.counts): a registered campaign is one group."""
    labels = {
        "spring": (Category.COMMERCIAL, None),
        "receipts": (Category.TRANSACTIONAL, None),
    }
    batch = prepare_events(
        [
            ev(EventType.SENT, recipient="a@example.com", category=Category.TRANSACTIONAL),
            ev(
                EventType.SENT,
                recipient="a@example.com",
                campaign="receipts",
                category=Category.COMMERCIAL,
            ),
        ],
        P,
    )
    assert [i.event.campaign for i in deadline_candidates(batch, labels)] == ["spring"]


def test_violations_are_counted_in_their_own_column() -> None:
    batch = prepare_events([ev(EventType.SENT, recipient="a@example.com", count=1)], P)
    ((_, values),) = counter_deltas(batch, violating=batch).items()
    assert values == {"sent": 1, "unsubscribe_violations": 1}


@pytest.mark.parametrize(
    "fields",
    [
        {"raw_sha256": "AB" * 32},
        {"raw_sha256": "ab" * 31},
        {"campaign": ""},
        {"feedback_type": "x" * 33},
        {"received_at": dt.datetime(2025, 3, 10)},
    ],
    ids=["upper-case-sha", "short-sha", "empty-campaign", "long-feedback-type", "naive-time"],
)
def test_report_records_that_the_columns_cannot_hold_are_refused(fields: dict[str, object]) -> None:
    values: dict[str, object] = {
        "raw_sha256": "ab" * 32,
        "received_at": T0,
        "feedback_type": "abuse",
        "campaign": "spring",
    }
    values.update(fields)
    with pytest.raises(ValueError, match="must"):
        ReportRecord(**values)  # type: ignore[arg-type]  # test shorthand over typed fields
