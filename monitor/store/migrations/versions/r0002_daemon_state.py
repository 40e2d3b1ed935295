"""The daemon's memory: latest check state, its history, last runs, alerts, notification outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LABEL = 32
_TARGET = 255
_KEY = 600


def upgrade() -> None:
    op.create_table(
        "check_state",
        sa.Column("target", sa.String(_TARGET), nullable=False),
        sa.Column("check", sa.String(_LABEL), nullable=False),
        sa.Column("item", sa.String(_TARGET), nullable=False),
        sa.Column("status", sa.String(_LABEL), nullable=False),
        sa.Column("severity", sa.String(_LABEL), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("checked_at", _TS, nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("target", "check", "item", name="pk_check_state"),
    )
    op.create_table(
        "state_changes",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("target", sa.String(_TARGET), nullable=False),
        sa.Column("check", sa.String(_LABEL), nullable=False),
        sa.Column("item", sa.String(_TARGET), nullable=False),
        sa.Column("old_status", sa.String(_LABEL), nullable=True),
        sa.Column("new_status", sa.String(_LABEL), nullable=False),
        sa.Column("old_fingerprint", sa.String(64), nullable=True),
        sa.Column("new_fingerprint", sa.String(64), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_state_changes"),
    )
    op.create_index("ix_state_changes_target_at", "state_changes", ["target", "at"])
    op.create_table(
        "check_runs",
        sa.Column("check", sa.String(_LABEL), nullable=False),
        sa.Column("target", sa.String(_TARGET), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("ran_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("check", "target", name="pk_check_runs"),
    )
    op.create_table(
        "alerts",
        sa.Column("key", sa.String(_KEY), nullable=False),
        sa.Column("kind", sa.String(_LABEL), nullable=False),
        sa.Column("severity", sa.String(_LABEL), nullable=False),
        sa.Column("status", sa.String(_LABEL), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("clear_count", sa.Integer(), nullable=False),
        sa.Column("fire_times", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_alerts"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(_KEY), nullable=False),
        sa.Column("notifier", sa.String(_LABEL * 2), nullable=False),
        sa.Column("status", sa.String(_LABEL), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("failed_at", _TS, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index(
        "ix_notifications_sent_at_failed_at_next_attempt_at",
        "notifications",
        ["sent_at", "failed_at", "next_attempt_at"],
    )


def downgrade() -> None:
    for table in ("notifications", "alerts", "check_runs", "state_changes", "check_state"):
        op.drop_table(table)
