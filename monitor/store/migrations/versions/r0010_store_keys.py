"""The fingerprint of the pseudonym key the store's data is keyed with.

One row per key (``pseudonym``): an HMAC under the key of a fixed label, recorded the
first time a key is used with the store. A later start with another key (a lost key
file, a changed ``[privacy] pseudonym_key``) is refused: its pseudonyms would match
nobody's, so suppressions, exports and erasures would silently find nothing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "store_keys",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_store_keys"),
    )


def downgrade() -> None:
    op.drop_table("store_keys")
