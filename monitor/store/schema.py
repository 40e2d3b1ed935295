"""The store's tables, in SQLAlchemy Core: one definition for SQLite and PostgreSQL.

Every table is keyed so that several replicas can write at once: counters are
upserted (``ON CONFLICT DO UPDATE SET n = n + excluded.n``), idempotency keys
and reports are inserted with ``ON CONFLICT DO NOTHING``, and no row is read
to decide a write that another replica could change in between. Recipients
appear only as keyed pseudonyms (64 hex characters). Timestamps are UTC.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Insert,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    insert,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.type_api import _BindProcessorType

from monitor.model.events import MAX_SCOPE_LENGTH

__all__ = [
    "BOUNCE_COUNTER_COLUMNS",
    "COUNTER_COLUMNS",
    "DMARC_ROW_KEYS",
    "MAX_ALERT_KEY_LENGTH",
    "MAX_CAMPAIGN_LENGTH",
    "MAX_LABEL_LENGTH",
    "MAX_TARGET_LENGTH",
    "UtcDateTime",
    "alerts",
    "audit_tally",
    "bounce_counters",
    "cacheable_insert",
    "campaigns",
    "check_runs",
    "check_state",
    "counters",
    "dmarc_failure_tally",
    "dmarc_message_tally",
    "dmarc_report_tally",
    "dmarc_reports",
    "dmarc_row_stage",
    "dmarc_rows",
    "dmarc_sources",
    "event_keys",
    "events",
    "feedback_reports",
    "metadata",
    "notifications",
    "report_recipients",
    "sqlite_datetime",
    "state_changes",
    "store_keys",
    "suppressions",
    "tally_watermarks",
]

PSEUDONYM = 64  # hex HMAC-SHA256
MAX_CAMPAIGN_LENGTH = 200
MAX_LABEL_LENGTH = 32  # provider, category, consent, type, source, reason, feedback type

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def cacheable_insert(table: Table, on_conflict: str | None = None) -> Insert:
    """A plain (cacheable) ``INSERT`` with its ``ON CONFLICT`` clause as SQL text.

    SQLAlchemy 2.0's dialect ``Insert`` and its ``on_conflict_do_*`` clauses have no
    cache key, so every statement built with them is compiled again on every
    execution; a ``TextClause`` in the post-VALUES position is cacheable, and the
    ``ON CONFLICT`` syntax is the same on SQLite (3.35+) and PostgreSQL.
    """
    stmt = insert(table)
    if on_conflict is not None:
        stmt._post_values_clause = text(on_conflict)
    return stmt


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out; SQLite (which has no zones) stores naive UTC.

    A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store keeps UTC and needs aware datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> _BindProcessorType[dt.datetime] | None:
        """On SQLite, one step to the stored text: what ``process_bind_param`` then
        SQLite's ``DATETIME`` produce (``YYYY-MM-DD HH:MM:SS.ffffff``), at a fraction of
        the cost (a datetime column is bound once per row of every batch)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: dt.datetime | None) -> str | None:
            return None if value is None else sqlite_datetime(value)

        return process

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def sqlite_datetime(value: dt.datetime) -> str:
    """How ``UtcDateTime`` stores an aware datetime on SQLite: naive UTC text.

    The same text as SQLAlchemy's SQLite ``DATETIME`` (``YYYY-MM-DD HH:MM:SS.ffffff``).
    """
    if value.tzinfo is dt.UTC:
        return _utc_text(value)
    if value.tzinfo is None:
        raise ValueError("naive datetime: the store keeps UTC and needs aware datetimes")
    return _utc_text(value.astimezone(dt.UTC))


# A batch binds the same instants again and again (hour buckets, the time a key was
# seen). Only UTC datetimes come here: equal means the same instant, the same text.
@functools.lru_cache(maxsize=4096)
def _utc_text(value: dt.datetime) -> str:
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(MAX_CAMPAIGN_LENGTH), primary_key=True),
    Column("category", String(MAX_LABEL_LENGTH), nullable=True),
    Column("consent", String(MAX_LABEL_LENGTH), nullable=True),
    Column("sending_domain", String(255), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Counter columns, in the order the rate math and the API use them.
COUNTER_COLUMNS = (
    "sent",
    "delivered",
    "bounces_permanent",
    "bounces_transient",
    "bounces_undetermined",
    "complaints",
    "unsubscribes",
    "unsubscribe_violations",
)

counters = Table(
    "counters",
    metadata,
    Column("campaign", String(MAX_CAMPAIGN_LENGTH), primary_key=True),
    Column("provider", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("category", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("consent", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("bucket", UtcDateTime(), primary_key=True),  # start of the UTC hour
    *(Column(name, BigInteger(), nullable=False, server_default="0") for name in COUNTER_COLUMNS),
    Index(None, "bucket"),
)

feedback_reports = Table(
    "feedback_reports",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex: unique across replicas
    Column("raw_sha256", String(64), nullable=False, unique=True),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    Column("arrival_date", UtcDateTime(), nullable=True),
    Column("feedback_type", String(MAX_LABEL_LENGTH), nullable=False),
    Column("campaign", String(MAX_CAMPAIGN_LENGTH), nullable=False),
    Column("provider", String(MAX_LABEL_LENGTH), nullable=False),
    Column("source_ip", String(45), nullable=True),
    Column("reporter", String(255), nullable=True),
    Column("user_agent", String(255), nullable=True),
    # Original-message audit; NULL = could not be told (e.g. headers missing).
    Column("list_unsubscribe_https", Boolean(), nullable=True),
    Column("list_unsubscribe_one_click", Boolean(), nullable=True),
    Column("dkim_covers_list_unsubscribe", Boolean(), nullable=True),
    Column("feedback_id_valid", Boolean(), nullable=True),
    Column("raw", LargeBinary(), nullable=True),  # only with [privacy] store_raw = true
    # DMARC failure reports (auth-failure, RFC 6591 / RFC 9991), migration 0004: what
    # failed, and the domain the report is about (Reported-Domain, else the From's).
    Column("auth_failure", String(MAX_LABEL_LENGTH), nullable=True),
    Column("identity_alignment", String(MAX_LABEL_LENGTH), nullable=True),
    Column("failure_domain", String(255), nullable=True),
)

report_recipients = Table(
    "report_recipients",
    metadata,
    Column(
        "report_id",
        String(32),
        ForeignKey("feedback_reports.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("pseudonym", String(PSEUDONYM), primary_key=True, index=True),
)

events = Table(
    "events",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("pseudonym", String(PSEUDONYM), nullable=False),
    Column("type", String(MAX_LABEL_LENGTH), nullable=False),
    Column("campaign", String(MAX_CAMPAIGN_LENGTH), nullable=False),
    Column("provider", String(MAX_LABEL_LENGTH), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False, index=True),
    Column("source", String(MAX_LABEL_LENGTH), nullable=False),
    Column("bounce_kind", String(MAX_LABEL_LENGTH), nullable=True),
    Column("feedback_type", String(MAX_LABEL_LENGTH), nullable=True),
    Column("scope", String(MAX_SCOPE_LENGTH), nullable=True),  # migration 0003
    # The receiver's classified reply of a bounce or deferral (migration 0006); the
    # reply text has every address masked.
    Column("bounce_class", String(MAX_LABEL_LENGTH), nullable=True),
    Column("blocklist", String(MAX_LABEL_LENGTH), nullable=True),
    Column("reply_status", String(3), nullable=True),
    Column("reply_enhanced", String(9), nullable=True),
    Column("reply_text", Text(), nullable=True),
    Index(None, "pseudonym", "occurred_at"),
)

# Bounces and deferrals per campaign x provider x class x named list x hour (migration
# 0006): the rates per class and the "a receiver cites a list" findings read them.
BOUNCE_COUNTER_COLUMNS = ("bounces", "deferrals")
bounce_counters = Table(
    "bounce_counters",
    metadata,
    Column("campaign", String(MAX_CAMPAIGN_LENGTH), primary_key=True),
    Column("provider", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("bounce_class", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("blocklist", String(MAX_LABEL_LENGTH), primary_key=True),  # "" when none
    Column("bucket", UtcDateTime(), primary_key=True),  # start of the UTC hour
    *(
        Column(name, BigInteger(), nullable=False, server_default="0")
        for name in BOUNCE_COUNTER_COLUMNS
    ),
    Index(None, "bucket"),
)

# Keys are stored as SHA-256 of the caller's key: fixed width, and a caller who
# uses an address as its key does not put the address in the database.
event_keys = Table(
    "event_keys",
    metadata,
    Column("source", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("key_sha256", String(64), primary_key=True),
    Column("seen_at", UtcDateTime(), nullable=False, index=True),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("pseudonym", String(PSEUDONYM), primary_key=True),
    Column("reason", String(MAX_LABEL_LENGTH), primary_key=True),  # SuppressionReason
    Column("first_at", UtcDateTime(), nullable=False),
)

# --- the daemon's check results and alerts ---------------------------------------
# Latest state per (target, check, item): item is the zone for a DNSBL result, the
# selector for DKIM, the family for a zone self-test, "" otherwise. ``detail`` is the
# result's JSON fragment (the shape of one ``check --json`` member), ``fingerprint`` a
# SHA-256 of the published record, for drift. Rows are written only by the replica
# that owns the target (sharding), so upserts never race on one key.
MAX_TARGET_LENGTH = 255
MAX_ALERT_KEY_LENGTH = 600

check_state = Table(
    "check_state",
    metadata,
    Column("target", String(MAX_TARGET_LENGTH), primary_key=True),
    Column("check", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("item", String(MAX_TARGET_LENGTH), primary_key=True),
    Column("status", String(MAX_LABEL_LENGTH), nullable=False),
    Column("severity", String(MAX_LABEL_LENGTH), nullable=True),
    Column("detail", Text(), nullable=False),
    Column("fingerprint", String(64), nullable=True),
    Column("checked_at", UtcDateTime(), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
)

# Every change of status or fingerprint: listed at, delisted at, record changed at.
state_changes = Table(
    "state_changes",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("target", String(MAX_TARGET_LENGTH), nullable=False),
    Column("check", String(MAX_LABEL_LENGTH), nullable=False),
    Column("item", String(MAX_TARGET_LENGTH), nullable=False),
    Column("old_status", String(MAX_LABEL_LENGTH), nullable=True),
    Column("new_status", String(MAX_LABEL_LENGTH), nullable=False),
    Column("old_fingerprint", String(64), nullable=True),
    Column("new_fingerprint", String(64), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Index(None, "target", "at"),
)

# The last run of each check for each target: success, duration, when.
check_runs = Table(
    "check_runs",
    metadata,
    Column("check", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("target", String(MAX_TARGET_LENGTH), primary_key=True),
    Column("success", Boolean(), nullable=False),
    Column("duration_seconds", Float(), nullable=False),
    Column("ran_at", UtcDateTime(), nullable=False),
)

# One row per alert key: the state machine's memory, so a restart neither re-sends
# nor forgets. ``notified`` says whether the current firing was announced.
alerts = Table(
    "alerts",
    metadata,
    Column("key", String(MAX_ALERT_KEY_LENGTH), primary_key=True),
    Column("kind", String(MAX_LABEL_LENGTH), nullable=False),
    Column("severity", String(MAX_LABEL_LENGTH), nullable=False),
    Column("status", String(MAX_LABEL_LENGTH), nullable=False),  # AlertStatus
    Column("labels", Text(), nullable=False),  # JSON object of bounded labels
    Column("title", Text(), nullable=False),
    Column("text", Text(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("notified", Boolean(), nullable=False),
    Column("clear_count", Integer(), nullable=False),
    Column("fire_times", Text(), nullable=False),  # JSON list of recent firing instants
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The outbox: a notification is queued (one row per notifier) in the transaction
# that changes its alert, then sent and marked by whichever replica claims it first.
notifications = Table(
    "notifications",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("key", String(MAX_ALERT_KEY_LENGTH), nullable=False),
    Column("notifier", String(MAX_LABEL_LENGTH * 2), nullable=False),
    Column("status", String(MAX_LABEL_LENGTH), nullable=False),  # firing / resolved
    Column("payload", Text(), nullable=False),  # JSON of the Notification
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("claimed_until", UtcDateTime(), nullable=True),
    Column("attempts", Integer(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("failed_at", UtcDateTime(), nullable=True),
    Column("last_error", String(200), nullable=True),
    Index(None, "sent_at", "failed_at", "next_attempt_at"),
    # The claim walks the unsent rows in queue order and asks, for each, whether an older
    # one of its key and notifier is unsent: without these, each claim of 50 sorted and
    # scanned the whole queue (migration 0013).
    Index(None, "sent_at", "failed_at", "id"),
    Index(None, "key", "notifier", "id"),
)

# --- DMARC aggregate reports (migration 0004) ----------------------------------------
# One row per report, unique on (reporting org, report id, policy domain): a re-sent
# report is a duplicate whichever channel brings it. Its records are summed into
# dmarc_rows by source row; dmarc_sources is the daemon's classification of each source.
MAX_DMARC_TEXT = 255

dmarc_reports = Table(
    "dmarc_reports",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex
    Column("org", String(MAX_DMARC_TEXT), nullable=False),  # org_name, trimmed and casefolded
    Column("report_id", String(MAX_DMARC_TEXT), nullable=False),
    Column("domain", String(MAX_DMARC_TEXT), nullable=False),  # policy_published domain
    Column("org_name", String(MAX_DMARC_TEXT), nullable=False),
    Column("reporter", String(MAX_LABEL_LENGTH * 2), nullable=False),
    Column("begin_at", UtcDateTime(), nullable=False),
    Column("end_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    Column("records", BigInteger(), nullable=False),
    Column("messages", BigInteger(), nullable=False),
    Column("policy", String(MAX_LABEL_LENGTH), nullable=True),  # p as published
    Column("flavour", String(MAX_LABEL_LENGTH), nullable=False),
    Column("raw", LargeBinary(), nullable=True),  # only with [privacy] store_raw = true
    # In dmarc_message_tally and dmarc_report_tally yet (migration 0008): the dmarc job
    # counts uncounted reports, the purge deletes only counted ones.
    Column("counted", Boolean(), nullable=False, server_default=false(), index=True),
    UniqueConstraint("org", "report_id", "domain"),
    Index(None, "domain", "end_at"),  # windows: the reports whose range reaches into one
)


def _dmarc_row_columns() -> list[Column[Any]]:
    """A DMARC row's own columns (new objects each call), the same in ``dmarc_rows`` and
    ``dmarc_row_stage``: staged rows move into ``dmarc_rows`` column for column."""
    return [
        Column("source_ip", String(45), nullable=False),
        Column("header_from", String(MAX_DMARC_TEXT), nullable=False),
        Column("disposition", String(MAX_LABEL_LENGTH), nullable=False),
        Column("dmarc", String(8), nullable=False),  # pass | fail
        Column("dkim_aligned", Boolean(), nullable=False),  # an aligned DKIM pass
        Column("spf_aligned", Boolean(), nullable=False),  # an aligned SPF pass
        Column("dkim_domain", String(MAX_DMARC_TEXT), nullable=False),
        Column("dkim_selector", String(MAX_DMARC_TEXT), nullable=False),
        Column("dkim_result", String(MAX_LABEL_LENGTH), nullable=False),
        Column("spf_domain", String(MAX_DMARC_TEXT), nullable=False),
        Column("spf_result", String(MAX_LABEL_LENGTH), nullable=False),
        Column("messages", BigInteger(), nullable=False),
    ]


# What tells one row of a report from another (all its columns but the sum).
DMARC_ROW_KEYS = tuple(c.name for c in _dmarc_row_columns() if c.name != "messages")


dmarc_rows = Table(
    "dmarc_rows",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column(
        "report", String(32), ForeignKey("dmarc_reports.id", ondelete="CASCADE"), nullable=False
    ),
    *_dmarc_row_columns(),
    Index(None, "report"),
)

# The rows of a report too large to sum in memory, handed over in batches (each its own
# transaction) under a load id; the report's own transaction sums them into dmarc_rows
# and deletes them (migration 0009). What a killed process left is purged a day later.
# No index: the table holds only the reports being stored, and every row written here
# is read once, by the statement that moves its whole load.
dmarc_row_stage = Table(
    "dmarc_row_stage",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("load", String(32), nullable=False),
    Column("staged_at", UtcDateTime(), nullable=False),
    *_dmarc_row_columns(),
)

dmarc_sources = Table(
    "dmarc_sources",
    metadata,
    Column("domain", String(MAX_DMARC_TEXT), primary_key=True),
    Column("source_ip", String(45), primary_key=True),
    Column("classification", String(MAX_LABEL_LENGTH), nullable=False),
    Column("ptr", String(MAX_DMARC_TEXT), nullable=True),  # forward-confirmed name, if any
    Column("classified_at", UtcDateTime(), nullable=False),
)

# DMARC failure reports counted once each, by the dmarc job, and never purged: the
# reports themselves are per-person data (retention, erasure), their count is not, so
# delivermon_dmarc_failure_reports_total never falls (migration 0007).
# The original-message audit counts of complaint reports the retention purge deleted, per
# campaign (the columns of ``AuditCounts``): delivermon_one_click_audits_total is the live
# reports' counts plus these, so a purge never lowers it (Prometheus reads a fall as a
# counter reset and the rest as an increase).
audit_tally = Table(
    "audit_tally",
    metadata,
    Column("campaign", String(MAX_CAMPAIGN_LENGTH), primary_key=True),
    *(
        Column(name, BigInteger(), nullable=False, server_default="0")
        for name in (
            "complaint_reports",
            "audited",
            "list_unsubscribe_https",
            "one_click_post",
            "dkim_covers_list_unsubscribe",
            "one_click_compliant",
            "feedback_id_invalid",
        )
    ),
)

dmarc_failure_tally = Table(
    "dmarc_failure_tally",
    metadata,
    Column("domain", String(MAX_DMARC_TEXT), primary_key=True),
    Column("auth_failure", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("reports", BigInteger(), nullable=False),
)

# DMARC aggregate reports counted once each, by the dmarc job, with the classification
# the job gave each source when it counted it; kept when the reports are purged
# (``[dmarc] retention_days``), so delivermon_dmarc_messages_total and
# delivermon_dmarc_reports_total never fall and a reclassified source moves nothing
# already counted (migration 0008). ``disposition`` as reported (``pass`` included).
dmarc_message_tally = Table(
    "dmarc_message_tally",
    metadata,
    Column("domain", String(MAX_DMARC_TEXT), primary_key=True),
    Column("classification", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("dmarc", String(8), primary_key=True),
    Column("disposition", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("messages", BigInteger(), nullable=False),
)

dmarc_report_tally = Table(
    "dmarc_report_tally",
    metadata,
    Column("domain", String(MAX_DMARC_TEXT), primary_key=True),
    Column("reporter", String(MAX_LABEL_LENGTH * 2), primary_key=True),
    Column("reports", BigInteger(), nullable=False),
)

# How far a tally has counted: rows received up to ``at`` are in it.
tally_watermarks = Table(
    "tally_watermarks",
    metadata,
    Column("name", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
)

# The fingerprint of the key the store's pseudonyms are made with (an HMAC under the key,
# which reveals nothing of it): a lost or changed key is refused at start instead of
# quietly making pseudonyms that match nobody (migration 0010).
store_keys = Table(
    "store_keys",
    metadata,
    Column("name", String(MAX_LABEL_LENGTH), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
