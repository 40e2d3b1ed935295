"""The scope of an opt-out: an SES contact list and topics, a SendGrid group, a Postmark stream.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A nullable column: ALTER TABLE ADD COLUMN on both backends, no table copy.
    op.add_column("events", sa.Column("scope", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("scope")
