"""groups remember the [[groups]] entry they were created from

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A configured group is created once, at start-up, and then belongs to the console: renaming or
deactivating it there must not make the next start create it again. `config_key` records the
entry ("kind|key|name" as configured) and is unique, so two processes starting at once create
each group once. Existing groups are marked with their own identity: they already exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("groups", sa.Column("config_key", sa.String(300), nullable=True))
    op.execute("UPDATE groups SET config_key = kind || '|' || key || '|' || name")
    op.create_index("ux_groups_config_key", "groups", ["config_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_groups_config_key", table_name="groups")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("config_key")
