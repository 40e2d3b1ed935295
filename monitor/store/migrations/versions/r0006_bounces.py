"""Bounces and deferrals as signals: the classified reply on events, counters per class.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_LABEL = 32
_EVENT_COLUMNS = (
    ("bounce_class", sa.String(_LABEL)),
    ("blocklist", sa.String(_LABEL)),
    ("reply_status", sa.String(3)),
    ("reply_enhanced", sa.String(9)),
    ("reply_text", sa.Text()),
)


def upgrade() -> None:
    # Nullable columns: ALTER TABLE ADD COLUMN on both backends, no table copy.
    for name, kind in _EVENT_COLUMNS:
        op.add_column("events", sa.Column(name, kind, nullable=True))
    op.create_table(
        "bounce_counters",
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(_LABEL), nullable=False),
        sa.Column("bounce_class", sa.String(_LABEL), nullable=False),
        sa.Column("blocklist", sa.String(_LABEL), nullable=False),
        sa.Column("bucket", _TS, nullable=False),
        sa.Column("bounces", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("deferrals", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign", "provider", "bounce_class", "blocklist", "bucket", name="pk_bounce_counters"
        ),
    )
    op.create_index("ix_bounce_counters_bucket", "bounce_counters", ["bucket"])


def downgrade() -> None:
    op.drop_index("ix_bounce_counters_bucket", table_name="bounce_counters")
    op.drop_table("bounce_counters")
    with op.batch_alter_table("events") as batch:
        for name, _kind in reversed(_EVENT_COLUMNS):
            batch.drop_column(name)
