"""課, events with RSVP, the FAQ, members' questions and anonymous consultations

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

What a member does after the three invitations (issue 17): the 課 directory (`sections`),
events and their RSVPs (`events`, `event_rsvps`), the FAQ the bot answers from
(`faq_entries`), the questions it could not answer (`member_questions`), and anonymous
consultations (`consultations`, with who sent them kept apart in `consultation_links`).
`messenger_identities.conversation_state` remembers that the bot waits for a person's next text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TIME = bot.models.UTCDateTime(timezone=True)


def _created() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("messenger_identities") as batch:
        batch.add_column(
            sa.Column("conversation_state", sa.String(32), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("conversation_state_at", TIME, nullable=True))
    op.create_table(
        "sections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("group_url", sa.String(500), nullable=False),
        sa.Column("leader_name", sa.String(100), nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("introduce_at_grand", sa.Boolean, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        *_created(),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("starts_at", TIME, nullable=False, index=True),
        sa.Column("ends_at", TIME, nullable=False),
        sa.Column("zoom_url", sa.String(500), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=True),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("series_key", sa.String(40), nullable=False),
        sa.Column("cancelled_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "event_rsvps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False, index=True),
        sa.Column("psid", sa.String(64), nullable=False, index=True),
        sa.Column(
            "application_id",
            sa.Integer,
            sa.ForeignKey("applications.id"),
            nullable=True,
            index=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answered_at", TIME, nullable=False),
        sa.Column("reminded_at", TIME, nullable=True),
        sa.UniqueConstraint("event_id", "psid"),
    )
    op.create_table(
        "faq_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("question", sa.String(300), nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        *_created(),
        sa.Column("created_from_question_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "member_questions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("psid", sa.String(64), nullable=False, index=True),
        sa.Column(
            "application_id",
            sa.Integer,
            sa.ForeignKey("applications.id"),
            nullable=True,
            index=True,
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("asked_at", TIME, nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("replied_by", sa.String(100), nullable=False),
        sa.Column("replied_at", TIME, nullable=True),
        sa.Column("reply_channel", sa.String(16), nullable=False),
        sa.Column("faq_entry_id", sa.Integer, sa.ForeignKey("faq_entries.id"), nullable=True),
    )
    op.create_table(
        "consultations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("submitted_at", TIME, nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("replied_by", sa.String(100), nullable=False),
        sa.Column("replied_at", TIME, nullable=True),
        sa.Column("reply_channel", sa.String(16), nullable=False),
        sa.Column("posted_at", TIME, nullable=True),
        sa.Column("posted_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "consultation_links",
        sa.Column(
            "consultation_id",
            sa.Integer,
            sa.ForeignKey("consultations.id"),
            primary_key=True,
        ),
        sa.Column("psid", sa.String(64), nullable=False, index=True),
        sa.Column(
            "application_id",
            sa.Integer,
            sa.ForeignKey("applications.id"),
            nullable=True,
            index=True,
        ),
    )


def downgrade() -> None:
    for table in (
        "consultation_links",
        "consultations",
        "member_questions",
        "faq_entries",
        "event_rsvps",
        "events",
        "sections",
    ):
        op.drop_table(table)
    with op.batch_alter_table("messenger_identities") as batch:
        batch.drop_column("conversation_state_at")
        batch.drop_column("conversation_state")
