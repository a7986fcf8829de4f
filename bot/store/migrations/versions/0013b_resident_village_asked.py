"""residents: when they were asked for their village

Revision ID: 0013b
Revises: 0013f
Create Date: 2026-12-02

The bot asks a resident which village they live in once — after they follow the OA, or when a
village notice cannot reach them — and this time keeps it from asking twice.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0013b"
down_revision = "0013f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("village_asked_at", bot.store.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_column("village_asked_at")
