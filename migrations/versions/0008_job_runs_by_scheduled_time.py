"""job runs are named by the time they were scheduled for

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-11

`job_runs.scheduled_for`: the scheduled time a run was made for (empty for a run started by
hand), unique per job, so a clock that takes over late knows which runs were made and makes
each missed one once (or records it `skipped`, past its catch-up grace). `started_by`: schedule,
catch-up or manual; empty for runs recorded before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(
            sa.Column("scheduled_for", bot.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("started_by", sa.String(16), nullable=False, server_default=""))
    op.create_index(
        "ux_job_runs_job_scheduled_for", "job_runs", ["job", "scheduled_for"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_job_runs_job_scheduled_for", table_name="job_runs")
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("started_by")
        batch.drop_column("scheduled_for")
