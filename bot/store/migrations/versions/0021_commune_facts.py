"""Commune facts edited in the console (issue 13): overrides over config.yml and their history

Revision ID: 0021_commune_facts
Revises: 0019_console_login
Create Date: 2026-12-03

``commune_facts``: one row per commune, ``data`` the edited facts by key, ``version`` moved
by every save. ``commune_fact_changes``: who changed which fact when, before and after.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0021_commune_facts"
down_revision = "0023_staff_zalo_login"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commune_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_commune_facts_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commune_facts")),
        sa.UniqueConstraint("commune_id", name=op.f("uq_commune_facts_commune_id")),
    )
    op.create_table(
        "commune_fact_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Unicode(length=300), nullable=False),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("staff_name", sa.Unicode(length=200), nullable=False),
        sa.Column("changed_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_commune_fact_changes_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_commune_fact_changes_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commune_fact_changes")),
    )
    op.create_index(
        op.f("ix_commune_fact_changes_commune_id"),
        "commune_fact_changes",
        ["commune_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_commune_fact_changes_commune_id"), table_name="commune_fact_changes")
    op.drop_table("commune_fact_changes")
    op.drop_table("commune_facts")
