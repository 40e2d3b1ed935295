"""DMARC aggregate reports counted once each and kept when the reports are purged.

The dmarc job counts each report's messages (by the classification it gave the source
then) and each report (by reporter) into these tallies and marks the report
``counted``; counted reports are purged after ``[dmarc] retention_days``. Reports
stored before the upgrade start uncounted: the first run after it counts them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TEXT = 255
_LABEL = 32


def upgrade() -> None:
    op.add_column(
        "dmarc_reports",
        sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_dmarc_reports_counted", "dmarc_reports", ["counted"])
    op.create_table(
        "dmarc_message_tally",
        sa.Column("domain", sa.String(_TEXT), nullable=False),
        sa.Column("classification", sa.String(_LABEL), nullable=False),
        sa.Column("dmarc", sa.String(8), nullable=False),
        sa.Column("disposition", sa.String(_LABEL), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "domain", "classification", "dmarc", "disposition", name="pk_dmarc_message_tally"
        ),
    )
    op.create_table(
        "dmarc_report_tally",
        sa.Column("domain", sa.String(_TEXT), nullable=False),
        sa.Column("reporter", sa.String(_LABEL * 2), nullable=False),
        sa.Column("reports", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("domain", "reporter", name="pk_dmarc_report_tally"),
    )


def downgrade() -> None:
    op.drop_index("ix_dmarc_reports_counted", "dmarc_reports")
    with op.batch_alter_table("dmarc_reports") as batch:
        batch.drop_column("counted")
    op.drop_table("dmarc_report_tally")
    op.drop_table("dmarc_message_tally")
