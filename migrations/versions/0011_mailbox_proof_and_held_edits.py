"""applications record how their email address was proven, and hold edits made after a decision

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

`applications.email_proven_by` ('' = not proven; join_request_code | messenger_ref | typed_code)
and `email_proven_at`: the first time the registration code or the m.me link token, both sent
only to the applicant's address, came back. `pending_change` ({} = none) and `pending_change_at`:
the answers of an edited form response for a decided application, kept (JSON, so neither a long
answer nor a column length can refuse it) until a reviewer accepts or discards them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("email_proven_by", sa.String(32), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("email_proven_at", bot.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("pending_change", JSON, nullable=False, server_default="{}"))
        batch.add_column(
            sa.Column("pending_change_at", bot.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("pending_change_at")
        batch.drop_column("pending_change")
        batch.drop_column("email_proven_at")
        batch.drop_column("email_proven_by")
