"""humans own their Messenger threads; linking by a typed registration code

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-10

`messenger_identities.quiet_until`: a secretariat member (an echo not sent by this app) or
another app (events under `standby[]`) owns the thread until then, and the bot sends no
automatic replies to free text. `link_code` / `link_code_at`: a 申込番号 the person typed in the
chat, waiting for their registered email address. `link_attempts`: each code + email check,
counted per person and per code against the daily limits.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messenger_identities") as batch:
        batch.add_column(
            sa.Column("quiet_until", bot.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("link_code", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("link_code_at", bot.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "link_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("psid", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_attempts_psid_at", "link_attempts", ["psid", "at"])
    op.create_index("ix_link_attempts_code_at", "link_attempts", ["code", "at"])
    op.create_index("ix_link_attempts_at", "link_attempts", ["at"])


def downgrade() -> None:
    op.drop_table("link_attempts")
    with op.batch_alter_table("messenger_identities") as batch:
        batch.drop_column("link_code_at")
        batch.drop_column("link_code")
        batch.drop_column("quiet_until")
