"""handoffs expire when no staff member takes them in time

Revision ID: 0013d
Revises: 0013f
Create Date: 2026-12-02

A resident handed to staff waited in silence for as long as nobody answered. A handoff now
carries the time it is handed back to the bot (``expires_at``, counted in office hours when it
opens) and, once it has been, ``expired_at``: staff see which residents were missed.
Handoffs already open keep no deadline (they wait for staff, as before).
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0013d"
down_revision = "0013b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", bot.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("expired_at", bot.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_handoffs_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handoffs_expires_at"))
        batch_op.drop_column("expired_at")
        batch_op.drop_column("expires_at")
