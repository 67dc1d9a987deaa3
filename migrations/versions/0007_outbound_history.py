"""outbound messages keep the history of their attempts

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02

A send whose outcome is unknown (a timeout or a reset after the request left) is retried once;
the row's history says so, and the console shows it, so a person can tell a possible duplicate.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("history", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("history")
