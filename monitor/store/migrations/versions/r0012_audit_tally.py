"""The audit counts of complaint reports the retention purge deleted, kept per campaign.

delivermon_one_click_audits_total was counted from the feedback reports kept within the
retention period, so it fell when the purge deleted some (Prometheus read a counter
reset, and ``increase()`` the rest as new). The purge now adds the counts of the reports
it deletes to this table, and the counter reads both.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_CAMPAIGN = 200
_COUNTS = (
    "complaint_reports",
    "audited",
    "list_unsubscribe_https",
    "one_click_post",
    "dkim_covers_list_unsubscribe",
    "one_click_compliant",
    "feedback_id_invalid",
)


def upgrade() -> None:
    op.create_table(
        "audit_tally",
        sa.Column("campaign", sa.String(_CAMPAIGN), nullable=False),
        *(sa.Column(n, sa.BigInteger(), nullable=False, server_default="0") for n in _COUNTS),
        sa.PrimaryKeyConstraint("campaign", name="pk_audit_tally"),
    )


def downgrade() -> None:
    op.drop_table("audit_tally")
