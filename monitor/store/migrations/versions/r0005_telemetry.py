"""Receiver telemetry: Gmail Postmaster statistics, SNDS activity and blocks, import states.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_LABEL = 32
_NAME = 255
_IP = 45
_TEXT = 255


def upgrade() -> None:
    op.create_table(
        "gmail_stats",
        sa.Column("domain", sa.String(_NAME), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(_LABEL), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("imported_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("domain", "day", "metric", name="pk_gmail_stats"),
    )
    op.create_table(
        "snds_activity",
        sa.Column("ip", sa.String(_IP), nullable=False),
        sa.Column("activity_start", _TS, nullable=False),
        sa.Column("activity_end", _TS, nullable=False),
        sa.Column("rcpt_commands", sa.BigInteger(), nullable=False),
        sa.Column("data_commands", sa.BigInteger(), nullable=False),
        sa.Column("recipients", sa.BigInteger(), nullable=False),
        sa.Column("filter_result", sa.String(_LABEL), nullable=True),
        sa.Column("complaint_rate", sa.String(_TEXT), nullable=False),
        sa.Column("trap_start", _TS, nullable=True),
        sa.Column("trap_end", _TS, nullable=True),
        sa.Column("trap_hits", sa.BigInteger(), nullable=False),
        sa.Column("sample_helo", sa.String(_TEXT), nullable=False),
        sa.Column("sample_mail_from", sa.String(_TEXT), nullable=False),
        sa.Column("comments", sa.String(_TEXT), nullable=False),
        sa.Column("imported_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("ip", "activity_start", name="pk_snds_activity"),
    )
    op.create_table(
        "snds_blocks",
        sa.Column("first_ip", sa.String(_IP), nullable=False),
        sa.Column("last_ip", sa.String(_IP), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(_TEXT), nullable=False),
        sa.Column("imported_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("first_ip", "last_ip", name="pk_snds_blocks"),
    )
    op.create_table(
        "telemetry_status",
        sa.Column("source", sa.String(_LABEL), nullable=False),
        sa.Column("subject", sa.String(_NAME), nullable=False),
        sa.Column("state", sa.String(_LABEL), nullable=False),
        sa.Column("reason", sa.String(_TEXT), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("checked_at", _TS, nullable=False),
        sa.Column("last_ok_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("source", "subject", name="pk_telemetry_status"),
    )


def downgrade() -> None:
    for table in ("telemetry_status", "snds_blocks", "snds_activity", "gmail_stats"):
        op.drop_table(table)
