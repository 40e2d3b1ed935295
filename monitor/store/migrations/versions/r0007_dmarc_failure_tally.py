"""DMARC failure reports counted once each and kept when the reports are purged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TEXT = 255
_LABEL = 32


def upgrade() -> None:
    op.create_table(
        "dmarc_failure_tally",
        sa.Column("domain", sa.String(_TEXT), nullable=False),
        sa.Column("auth_failure", sa.String(_LABEL), nullable=False),
        sa.Column("reports", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("domain", "auth_failure", name="pk_dmarc_failure_tally"),
    )
    op.create_table(
        "tally_watermarks",
        sa.Column("name", sa.String(_LABEL), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tally_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("tally_watermarks")
    op.drop_table("dmarc_failure_tally")
