"""DMARC rows without their report's domain, range start and reporter; windows by end.

Each row of an aggregate report repeated three of the report's own values (the policy
domain, ``begin_at`` and the reporter) and was indexed by (domain, begin_at). The
queries now join the report, and each stored row is three values and one index entry
smaller (bench/DMARC.md). A window holds the reports whose range reaches into it (ends
in it or later), not only those that began in it, so the reports' index is now
(domain, end_at).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_TEXT = 255
_REPORTER = 64


def upgrade() -> None:
    op.drop_index("ix_dmarc_reports_domain_begin_at", table_name="dmarc_reports")
    op.create_index("ix_dmarc_reports_domain_end_at", "dmarc_reports", ["domain", "end_at"])
    op.drop_index("ix_dmarc_rows_domain_begin_at", table_name="dmarc_rows")
    with op.batch_alter_table("dmarc_rows") as batch:
        batch.drop_column("reporter")
        batch.drop_column("begin_at")
        batch.drop_column("domain")


def downgrade() -> None:
    with op.batch_alter_table("dmarc_rows") as batch:
        batch.add_column(sa.Column("domain", sa.String(_TEXT), nullable=True))
        batch.add_column(sa.Column("begin_at", _TS, nullable=True))
        batch.add_column(sa.Column("reporter", sa.String(_REPORTER), nullable=True))
    for column in ("domain", "begin_at", "reporter"):
        op.execute(
            f"UPDATE dmarc_rows SET {column} = "  # noqa: S608 (a fixed column name)
            f"(SELECT dmarc_reports.{column} FROM dmarc_reports "
            "WHERE dmarc_reports.id = dmarc_rows.report)"
        )
    with op.batch_alter_table("dmarc_rows") as batch:
        batch.alter_column("domain", existing_type=sa.String(_TEXT), nullable=False)
        batch.alter_column("begin_at", existing_type=_TS, nullable=False)
        batch.alter_column("reporter", existing_type=sa.String(_REPORTER), nullable=False)
    op.create_index("ix_dmarc_rows_domain_begin_at", "dmarc_rows", ["domain", "begin_at"])
    op.drop_index("ix_dmarc_reports_domain_end_at", table_name="dmarc_reports")
    op.create_index("ix_dmarc_reports_domain_begin_at", "dmarc_reports", ["domain", "begin_at"])
