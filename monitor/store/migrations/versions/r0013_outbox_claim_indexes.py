"""Indexes for claiming from the notification outbox in queue order.

The claim takes the oldest 50 unsent notifications whose key and notifier have no older
unsent one. Without an index in queue order, and one by key and notifier, each claim
sorted the whole unsent queue and, for each row, scanned it again: a queue of tens of
thousands (a large SNDS account's first RED day) took hours to drain, a critical alert
waiting behind it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_sent_at_failed_at_id", "notifications", ["sent_at", "failed_at", "id"]
    )
    op.create_index("ix_notifications_key_notifier_id", "notifications", ["key", "notifier", "id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_key_notifier_id", "notifications")
    op.drop_index("ix_notifications_sent_at_failed_at_id", "notifications")
