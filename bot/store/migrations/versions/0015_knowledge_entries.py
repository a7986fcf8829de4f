"""Each commune's own knowledge: questions answered in its own words (issue 12)

Revision ID: 0015
Revises: 0014e3
Create Date: 2026-12-03

``knowledge_entries``: a question, its answer, paraphrases (``variants``), an optional topic,
validity dates and source. ``commune_id`` null: a province-wide entry (``province_code``)
inherited by every commune of the province; a commune's entry with the same ``key`` (the
question's accent-free search key) overrides it. Imported and exported by `bot knowledge`.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0015"
down_revision = "0014e3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=True),
        sa.Column("province_code", sa.String(length=2), nullable=True),
        sa.Column("key", sa.Unicode(length=500), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column(
            "variants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("topic", sa.Unicode(length=100), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_knowledge_entries_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entries")),
    )
    op.create_index("ix_knowledge_entries_commune_key", "knowledge_entries", ["commune_id", "key"])
    op.create_index(
        "ix_knowledge_entries_province_key", "knowledge_entries", ["province_code", "key"]
    )


def downgrade() -> None:
    op.drop_index("ix_knowledge_entries_province_key", table_name="knowledge_entries")
    op.drop_index("ix_knowledge_entries_commune_key", table_name="knowledge_entries")
    op.drop_table("knowledge_entries")
