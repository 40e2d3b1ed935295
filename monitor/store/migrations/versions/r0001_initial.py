"""Initial schema: campaigns, counters, feedback reports, events, idempotency keys, suppressions.

Revision ID: 0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNTERS = (
    "sent",
    "delivered",
    "bounces_permanent",
    "bounces_transient",
    "bounces_undetermined",
    "complaints",
    "unsubscribes",
    "unsubscribe_violations",
)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("consent", sa.String(32), nullable=True),
        sa.Column("sending_domain", sa.String(255), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_table(
        "counters",
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("consent", sa.String(32), nullable=False),
        sa.Column("bucket", _TS, nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            for name in _COUNTERS
        ),
        sa.PrimaryKeyConstraint(
            "campaign", "provider", "category", "consent", "bucket", name="pk_counters"
        ),
    )
    op.create_index("ix_counters_bucket", "counters", ["bucket"])
    op.create_table(
        "feedback_reports",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("raw_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("arrival_date", _TS, nullable=True),
        sa.Column("feedback_type", sa.String(32), nullable=False),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=True),
        sa.Column("reporter", sa.String(255), nullable=True),
        sa.Column("user_agent", sa.String(255), nullable=True),
        sa.Column("list_unsubscribe_https", sa.Boolean(), nullable=True),
        sa.Column("list_unsubscribe_one_click", sa.Boolean(), nullable=True),
        sa.Column("dkim_covers_list_unsubscribe", sa.Boolean(), nullable=True),
        sa.Column("feedback_id_valid", sa.Boolean(), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_reports"),
        sa.UniqueConstraint("raw_sha256", name="uq_feedback_reports_raw_sha256"),
    )
    op.create_index("ix_feedback_reports_received_at", "feedback_reports", ["received_at"])
    op.create_table(
        "report_recipients",
        sa.Column("report_id", sa.String(32), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["feedback_reports.id"],
            name="fk_report_recipients_report_id_feedback_reports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "pseudonym", name="pk_report_recipients"),
    )
    op.create_index("ix_report_recipients_pseudonym", "report_recipients", ["pseudonym"])
    op.create_table(
        "events",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("occurred_at", _TS, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("bounce_kind", sa.String(32), nullable=True),
        sa.Column("feedback_type", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    op.create_index("ix_events_pseudonym_occurred_at", "events", ["pseudonym", "occurred_at"])
    op.create_table(
        "event_keys",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "key_sha256", name="pk_event_keys"),
    )
    op.create_index("ix_event_keys_seen_at", "event_keys", ["seen_at"])
    op.create_table(
        "suppressions",
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("first_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", "reason", name="pk_suppressions"),
    )


def downgrade() -> None:
    for table in (
        "suppressions",
        "event_keys",
        "events",
        "report_recipients",
        "feedback_reports",
        "counters",
        "campaigns",
    ):
        op.drop_table(table)
