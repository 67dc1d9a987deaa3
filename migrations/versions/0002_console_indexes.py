"""indexes for the console queue, join requests and the audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_applications_queue", "applications", ["status", "submitted_at", "id"])
    op.create_index("ix_join_requests_application_id", "join_requests", ["application_id"])
    op.create_index("ix_join_requests_name", "join_requests", ["name"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")
    op.drop_index("ix_join_requests_name", table_name="join_requests")
    op.drop_index("ix_join_requests_application_id", table_name="join_requests")
    op.drop_index("ix_applications_queue", table_name="applications")
