"""server-side console sessions, login throttles, forced password changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

`console_sessions`: one row per console login (id = SHA-256 of the cookie's random token), ended
by logout, a password change or deactivation. `login_throttles`: attempts admitted per account
and per client network, with the time the next may be, replacing `secretariat_users`'
`failed_logins` and `locked_until` (a lock-out an attacker could set off at will).
`secretariat_users.must_change_password` (set by an admin's reset) and `password_changed_at`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["secretariat_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_allowed_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("admitted_by", sa.String(32), nullable=False),
        sa.Column("updated_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("secretariat_users") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(
            sa.Column("password_changed_at", bot.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")


def downgrade() -> None:
    with op.batch_alter_table("secretariat_users") as batch:
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("locked_until", bot.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.drop_column("password_changed_at")
        batch.drop_column("must_change_password")
    op.drop_table("login_throttles")
    op.drop_index("ix_console_sessions_user_id", table_name="console_sessions")
    op.drop_table("console_sessions")
