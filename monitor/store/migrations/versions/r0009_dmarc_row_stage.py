"""DMARC rows of a large report staged in batches before the report is stored.

A report with more distinct rows than the parser holds at once hands them over in
batches, each its own short transaction into this table under a load id; the report's
own transaction then sums them into ``dmarc_rows`` and deletes them. Rows left by a
process killed mid-report are deleted by the dmarc job a day later. No index: the
table holds only the reports being stored, each load read once as a whole.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LABEL = 32
_TEXT = 255


def upgrade() -> None:
    op.create_table(
        "dmarc_row_stage",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("load", sa.String(32), nullable=False),
        sa.Column("staged_at", _TS, nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=False),
        sa.Column("header_from", sa.String(_TEXT), nullable=False),
        sa.Column("disposition", sa.String(_LABEL), nullable=False),
        sa.Column("dmarc", sa.String(8), nullable=False),
        sa.Column("dkim_aligned", sa.Boolean(), nullable=False),
        sa.Column("spf_aligned", sa.Boolean(), nullable=False),
        sa.Column("dkim_domain", sa.String(_TEXT), nullable=False),
        sa.Column("dkim_selector", sa.String(_TEXT), nullable=False),
        sa.Column("dkim_result", sa.String(_LABEL), nullable=False),
        sa.Column("spf_domain", sa.String(_TEXT), nullable=False),
        sa.Column("spf_result", sa.String(_LABEL), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dmarc_row_stage"),
    )


def downgrade() -> None:
    op.drop_table("dmarc_row_stage")
