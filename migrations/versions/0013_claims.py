"""applications can be claimed by a reviewer, and an approval can be undone for a while

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

`applications.claimed_by` / `claimed_at`: 「対応中：名前」, the reviewer handling the application
(claims lapse after `[console] claim_minutes`). `applications.undo_until`: until when the last
approval can be undone; the approval's email and invitations are not sent before it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(100), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("claimed_at", bot.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("undo_until", bot.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("undo_until")
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
