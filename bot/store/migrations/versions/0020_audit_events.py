"""The console's audit log of everything that is not a notice's or a ticket's (issue 13)

Revision ID: 0020_audit_events
Revises: 0024_messages_by_day (after the merge; first written on 0019_console_login)
Create Date: 2026-12-03

``audit_events``: one row per sign-in, sign-out, failed sign-in, lock-out, staff change,
invitation, key revocation and knowledge change, written by ``bot.audit.action`` in the change's
own transaction. ``search_key`` is the summary accent-folded (``bot.text.search_key``) so the
log's text search is a LIKE on both databases.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0020_audit_events"
down_revision = "0024_messages_by_day"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("object_kind", sa.String(length=24), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("search_key", sa.String(length=400), nullable=False),
        sa.Column("at", bot.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_audit_events_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_audit_events_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_commune_id_at", "audit_events", ["commune_id", "at"])
    op.create_index(op.f("ix_audit_events_staff_id"), "audit_events", ["staff_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_events_staff_id"), table_name="audit_events")
    op.drop_index("ix_audit_events_commune_id_at", table_name="audit_events")
    op.drop_table("audit_events")
