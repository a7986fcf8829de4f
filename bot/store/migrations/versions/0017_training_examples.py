"""Staff-taught intent examples: misses promoted to training (issue 12)

Revision ID: 0017_training_examples
Revises: 0016_knowledge_unique
Create Date: 2026-12-03

``training_examples``: a resident's wording (``text``, its search ``key``) and the intent staff
said it means, per commune; the embedded engine trains on them with ``data/nlu/``.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0017_training_examples"
down_revision = "0016_knowledge_unique"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_examples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Unicode(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_training_examples_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_training_examples_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_examples")),
        sa.UniqueConstraint("commune_id", "key", name=op.f("uq_training_examples_commune_id")),
    )


def downgrade() -> None:
    op.drop_table("training_examples")
