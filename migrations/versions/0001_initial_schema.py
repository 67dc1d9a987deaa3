"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:42:39.050349
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "application_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submitted_month", sa.String(length=7), nullable=False),
        sa.Column("prefecture", sa.String(length=8), nullable=False),
        sa.Column("service_type", sa.String(length=40), nullable=False),
        sa.Column("organization_code", sa.String(length=16), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("final_status", sa.String(length=32), nullable=False),
        sa.Column("erased_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("invite_url", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("seats_used", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", "name"),
    )
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("received_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("processed_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_key"),
    )
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_claim", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("started_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_runs_job"), ["job"], unique=False)

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "messenger_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("psid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_interaction_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disclosed_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unreachable_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unreachable_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("psid"),
    )
    op.create_table(
        "organizations",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("prefecture", sa.String(length=8), nullable=False),
        sa.Column("kana", sa.String(length=200), nullable=False),
        sa.Column(
            "email_domains",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "quarantined_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_seen_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "fingerprint"),
    )
    op.create_table(
        "rejection_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "secretariat_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "system_flags",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("link_token", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_changed_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("kana", sa.String(length=200), nullable=False),
        sa.Column("facebook_name", sa.String(length=200), nullable=False),
        sa.Column("service_type", sa.String(length=40), nullable=False),
        sa.Column("organization_text", sa.String(length=300), nullable=False),
        sa.Column("department", sa.String(length=300), nullable=False),
        sa.Column("prefecture", sa.String(length=8), nullable=False),
        sa.Column("employment_status", sa.String(length=200), nullable=False),
        sa.Column(
            "interests",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("consent", sa.String(length=200), nullable=False),
        sa.Column("referrer", sa.String(length=300), nullable=False),
        sa.Column(
            "answers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("organization_code", sa.String(length=16), nullable=True),
        sa.Column("organization_name", sa.String(length=120), nullable=False),
        sa.Column("verified_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmation_sent_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("join_request_seen_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("join_request_reminders", sa.Integer(), nullable=False),
        sa.Column("last_reminder_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("link_reminders", sa.Integer(), nullable=False),
        sa.Column("approved_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=100), nullable=False),
        sa.Column("cohort_key", sa.String(length=16), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("reason_shared", sa.Boolean(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("messenger_identity_id", sa.Integer(), nullable=True),
        sa.Column("erased_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["applications.id"],
        ),
        sa.ForeignKeyConstraint(
            ["messenger_identity_id"],
            ["messenger_identities.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("link_token"),
        sa.UniqueConstraint("messenger_identity_id"),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applications_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_applications_organization_code"), ["organization_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_applications_prefecture"), ["prefecture"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_applications_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_applications_submitted_at"), ["submitted_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_applications_verdict"), ["verdict"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "join_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("entered_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entered_by", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("match_method", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column(
            "candidates",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("join_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_join_requests_status"), ["status"], unique=False)

    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_claim", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbound_messages_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(
            "ix_outbound_recipient", ["channel", "recipient", "status"], unique=False
        )

    op.create_table(
        "reviewer_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reviewer_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reviewer_notes_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outbound_id", sa.Integer(), nullable=True),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
        ),
        sa.ForeignKeyConstraint(
            ["outbound_id"],
            ["outbound_messages.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "kind"),
    )


def downgrade() -> None:
    op.drop_table("invitations")
    with op.batch_alter_table("reviewer_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviewer_notes_application_id"))

    op.drop_table("reviewer_notes")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_recipient")
        batch_op.drop_index(batch_op.f("ix_outbound_messages_application_id"))
        batch_op.drop_index("ix_outbound_claim")

    op.drop_table("outbound_messages")
    with op.batch_alter_table("join_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_join_requests_status"))

    op.drop_table("join_requests")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_application_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_verdict"))
        batch_op.drop_index(batch_op.f("ix_applications_submitted_at"))
        batch_op.drop_index(batch_op.f("ix_applications_status"))
        batch_op.drop_index(batch_op.f("ix_applications_prefecture"))
        batch_op.drop_index(batch_op.f("ix_applications_organization_code"))
        batch_op.drop_index(batch_op.f("ix_applications_email"))

    op.drop_table("applications")
    op.drop_table("system_flags")
    op.drop_table("secretariat_users")
    op.drop_table("rejection_templates")
    op.drop_table("quarantined_rows")
    op.drop_table("organizations")
    op.drop_table("messenger_identities")
    op.drop_table("leases")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_runs_job"))

    op.drop_table("job_runs")
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_claim")

    op.drop_table("inbound_events")
    op.drop_table("groups")
    op.drop_table("application_stats")
    op.drop_table("alerts")
