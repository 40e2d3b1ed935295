"""The daemon's memory in SQLite and PostgreSQL: latest state, history, runs, alerts, outbox."""

from __future__ import annotations

import datetime as dt

from monitor.checking.states import CheckName, CheckRun, CheckState
from monitor.model.alerts import (
    AlertKind,
    AlertPolicy,
    AlertStatus,
    Observation,
    notification_payload,
    step,
)
from monitor.store import SqlStore, open_store

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def dnsbl(status: str, at: dt.datetime, target: str = "192.0.2.1") -> CheckState:
    return CheckState(target, CheckName.DNSBL, "zen.example", status, "critical", "{}", None, at)


def spf(record: str, at: dt.datetime) -> CheckState:
    return CheckState("example.com", CheckName.SPF, "", "ok", None, '{"record": 1}', record, at)


async def test_changes_are_reported_once_and_kept_in_history(store: SqlStore) -> None:
    first = await store.save_states([dnsbl("not_listed", T0), spf("a" * 64, T0)])
    assert [c.old for c in first] == [None, None]
    later = T0 + dt.timedelta(minutes=15)
    assert await store.save_states([dnsbl("not_listed", later), spf("a" * 64, later)]) == []
    listed_at = T0 + dt.timedelta(minutes=30)
    changes = await store.save_states([dnsbl("listed", listed_at), spf("b" * 64, listed_at)])
    assert {(c.new.check, c.status_changed, c.record_changed) for c in changes} == {
        (CheckName.DNSBL, True, False),
        (CheckName.SPF, False, True),
    }
    history = await store.state_history("192.0.2.1")
    assert [(h.old_status, h.new_status, h.at) for h in history] == [
        ("not_listed", "listed", listed_at),
        (None, "not_listed", T0),
    ]
    assert (await store.state_history("example.com"))[0].record_changed
    (latest,) = await store.latest_states(targets=["192.0.2.1"])
    assert latest.status == "listed"
    assert latest.changed_at == listed_at
    assert latest.checked_at == listed_at


async def test_changed_at_stays_while_the_status_holds(store: SqlStore) -> None:
    await store.save_states([dnsbl("listed", T0)])
    await store.save_states([dnsbl("listed", T0 + dt.timedelta(hours=1))])
    (latest,) = await store.latest_states(check=CheckName.DNSBL)
    assert latest.changed_at == T0
    assert latest.checked_at == T0 + dt.timedelta(hours=1)


async def test_forgetting_unconfigured_targets(store: SqlStore) -> None:
    await store.save_states([dnsbl("listed", T0), dnsbl("listed", T0, target="192.0.2.2")])
    assert await store.forget_states(["192.0.2.2"], [CheckName.DNSBL]) == 1
    assert await store.known_targets(CheckName.DNSBL) == {"192.0.2.2"}


async def test_runs_are_upserted(store: SqlStore) -> None:
    await store.record_runs([CheckRun("dnsbl", "192.0.2.1", False, 1.5, T0)])
    await store.record_runs([CheckRun("dnsbl", "192.0.2.1", True, 0.25, T0)])
    assert await store.check_runs() == [CheckRun("dnsbl", "192.0.2.1", True, 0.25, T0)]


async def test_alerts_and_outbox_survive_reopening(store_url: str) -> None:
    store = await open_store(store_url)
    observation = Observation(
        "listed:192.0.2.1:zen.example", AlertKind.LISTED, True, labels={"target": "192.0.2.1"}
    )
    transition = step(None, observation, T0, AlertPolicy(notify_existing=True))
    assert transition.record is not None
    assert transition.announce is AlertStatus.FIRING
    payload = notification_payload(transition.record, AlertStatus.FIRING)
    queued = await store.save_alerts(
        [transition.record],
        [(observation.key, "firing", payload, ["ops-webhook", "ops-mail"])],
        now=T0,
    )
    assert queued == 2
    await store.close()

    store = await open_store(store_url)
    try:
        loaded = await store.load_alerts([observation.key])
        assert loaded[observation.key] == transition.record
        lease = dt.timedelta(minutes=1)
        claimed = await store.claim_notifications(T0, lease=lease)
        assert sorted(c.notifier for c in claimed) == ["ops-mail", "ops-webhook"]
        assert {c.attempts for c in claimed} == {1}
        # claimed rows are not handed out again while the lease holds
        assert await store.claim_notifications(T0, lease=lease) == []
        sent, retry = claimed
        await store.finish_notification(sent.id, sent_at=T0)
        await store.finish_notification(
            retry.id, retry_at=T0 + dt.timedelta(seconds=30), error="timeout"
        )
        assert await store.claim_notifications(T0 + dt.timedelta(seconds=10), lease=lease) == []
        (again,) = await store.claim_notifications(T0 + dt.timedelta(seconds=31), lease=lease)
        assert again.id == retry.id
        assert again.attempts == 2
        assert await store.outbox_counts() == {"pending": 1, "sent": 1, "failed": 0}
        # an expired lease (a replica died mid-send) makes the row due again
        (after_crash,) = await store.claim_notifications(T0 + dt.timedelta(minutes=5), lease=lease)
        assert after_crash.id == retry.id
        # a single replica starting finds its killed predecessor's claim: due again now
        assert await store.claim_notifications(T0 + dt.timedelta(minutes=5), lease=lease) == []
        assert await store.release_claims() == 1
        (released,) = await store.claim_notifications(T0 + dt.timedelta(minutes=5), lease=lease)
        assert released.id == retry.id
        assert await store.release_claims() == 1  # claimed again just now
        await store.finish_notification(released.id, sent_at=T0)
        assert await store.release_claims() == 0  # sent rows are never released
    finally:
        await store.close()


async def test_last_record_changes_count_content_not_status(store: SqlStore) -> None:
    later = T0 + dt.timedelta(hours=1)
    await store.save_states([spf("a" * 64, T0), dnsbl("not_listed", T0)])
    await store.save_states([spf("b" * 64, later), dnsbl("listed", later)])
    changes = await store.last_record_changes()
    assert changes == {("example.com", "spf", ""): later}


async def test_a_record_change_across_a_dns_failure_is_still_seen(store: SqlStore) -> None:
    await store.save_states([spf("a" * 64, T0)])
    failed = CheckState("example.com", CheckName.SPF, "", "unknown", None, "{}", None, T0)
    await store.save_states([failed])  # could not tell: the last known record stands
    later = T0 + dt.timedelta(hours=1)
    (change,) = await store.save_states([spf("b" * 64, later)])
    assert change.record_changed


def _spf_state(status: str, record: str | None, at: dt.datetime, target: str) -> CheckState:
    return CheckState(target, CheckName.SPF, "", status, None, "{}", record, at)


async def test_a_record_deleted_or_published_is_a_record_change(store: SqlStore) -> None:
    """A second SPF record or a deleted DKIM key leaves no fingerprint: the record went away,
    which is a change. Could not tell with no record known before is not one."""
    t1, t2, t3 = (T0 + dt.timedelta(hours=h) for h in (1, 2, 3))
    deleted, published, unseen = "deleted.example", "published.example", "unseen.example"
    await store.save_states(
        [
            _spf_state("ok", "a" * 64, T0, deleted),
            _spf_state("fail", None, T0, published),
            _spf_state("unknown", None, T0, unseen),
        ]
    )
    changes = await store.save_states(
        [
            _spf_state("fail", None, t1, deleted),
            _spf_state("ok", "b" * 64, t1, published),
            _spf_state("ok", "c" * 64, t1, unseen),  # first known record: not a change
        ]
    )
    assert {c.new.target: c.record_changed for c in changes} == {
        deleted: True,
        published: True,
        unseen: False,
    }
    # Through a DNS failure (the store keeps the last fingerprint) and back: no change.
    await store.save_states([_spf_state("unknown", None, t2, published)])
    assert await store.save_states([_spf_state("ok", "b" * 64, t3, published)]) != []
    last = await store.last_record_changes()
    assert {k[0]: v for k, v in last.items()} == {deleted: t1, published: t1}
    history = await store.state_history(deleted)
    assert [h.record_changed for h in history] == [True, False]
