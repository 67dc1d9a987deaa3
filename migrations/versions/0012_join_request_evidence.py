"""join requests keep the profile lines Facebook showed beside them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

`join_requests.evidence`: [{"kind": lives | works | joined | …, "text": …}] as pasted from
Facebook's member-request list ("Works at 富山市役所"), shown to the secretariat next to the form
answers. Blanked with the request's name and answer when the person is erased.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("join_requests") as batch:
        batch.add_column(sa.Column("evidence", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("join_requests") as batch:
        batch.drop_column("evidence")
