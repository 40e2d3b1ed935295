"""DMARC aggregate reports, their rows summed by source, and failure reports' DMARC fields.

Alembic logs the first paragraph of this docstring at INFO on upgrade: keep it one line.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LABEL = 32
_TEXT = 255


def upgrade() -> None:
    # DMARC failure reports are ARF reports: what failed and the domain they are about.
    op.add_column("feedback_reports", sa.Column("auth_failure", sa.String(_LABEL), nullable=True))
    op.add_column(
        "feedback_reports", sa.Column("identity_alignment", sa.String(_LABEL), nullable=True)
    )
    op.add_column("feedback_reports", sa.Column("failure_domain", sa.String(_TEXT), nullable=True))
    op.create_table(
        "dmarc_reports",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org", sa.String(_TEXT), nullable=False),
        sa.Column("report_id", sa.String(_TEXT), nullable=False),
        sa.Column("domain", sa.String(_TEXT), nullable=False),
        sa.Column("org_name", sa.String(_TEXT), nullable=False),
        sa.Column("reporter", sa.String(_LABEL * 2), nullable=False),
        sa.Column("begin_at", _TS, nullable=False),
        sa.Column("end_at", _TS, nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("policy", sa.String(_LABEL), nullable=True),
        sa.Column("flavour", sa.String(_LABEL), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dmarc_reports"),
        sa.UniqueConstraint(
            "org", "report_id", "domain", name="uq_dmarc_reports_org_report_id_domain"
        ),
    )
    op.create_index("ix_dmarc_reports_received_at", "dmarc_reports", ["received_at"])
    op.create_index("ix_dmarc_reports_domain_begin_at", "dmarc_reports", ["domain", "begin_at"])
    op.create_table(
        "dmarc_rows",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("report", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(_TEXT), nullable=False),
        sa.Column("begin_at", _TS, nullable=False),
        sa.Column("reporter", sa.String(_LABEL * 2), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["report"],
            ["dmarc_reports.id"],
            name="fk_dmarc_rows_report_dmarc_reports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dmarc_rows"),
    )
    op.create_index("ix_dmarc_rows_domain_begin_at", "dmarc_rows", ["domain", "begin_at"])
    op.create_index("ix_dmarc_rows_report", "dmarc_rows", ["report"])
    op.create_table(
        "dmarc_sources",
        sa.Column("domain", sa.String(_TEXT), nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=False),
        sa.Column("classification", sa.String(_LABEL), nullable=False),
        sa.Column("ptr", sa.String(_TEXT), nullable=True),
        sa.Column("classified_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("domain", "source_ip", name="pk_dmarc_sources"),
    )


def downgrade() -> None:
    op.drop_table("dmarc_sources")
    op.drop_index("ix_dmarc_rows_report", table_name="dmarc_rows")
    op.drop_index("ix_dmarc_rows_domain_begin_at", table_name="dmarc_rows")
    op.drop_table("dmarc_rows")
    op.drop_index("ix_dmarc_reports_domain_begin_at", table_name="dmarc_reports")
    op.drop_index("ix_dmarc_reports_received_at", table_name="dmarc_reports")
    op.drop_table("dmarc_reports")
    with op.batch_alter_table("feedback_reports") as batch:
        batch.drop_column("failure_domain")
        batch.drop_column("identity_alignment")
        batch.drop_column("auth_failure")
