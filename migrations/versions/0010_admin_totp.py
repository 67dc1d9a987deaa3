"""optional TOTP second factor for console accounts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

`secretariat_users.totp_secret`: the base32 secret of an authenticator app ('' = not enabled);
`totp_last_step`: the 30-second step of the last accepted code, so a code is accepted once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("secretariat_users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("totp_last_step", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("secretariat_users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
