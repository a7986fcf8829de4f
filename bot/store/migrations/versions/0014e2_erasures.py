"""erasures: the record that a resident's data was erased

Revision ID: 0014e2
Revises: 0013d
Create Date: 2026-12-02

A resident may ask the bot (or staff) to erase what the commune keeps about them
(bot/privacy.py). The data goes; this row records that it was done, when, on whose request and
for how many tickets — never what was erased (docs/privacy.md).
"""

import sqlalchemy as sa
from alembic import op

from bot.store.types import UTCDateTime

revision = "0014e2"
down_revision = "0013d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column(
            "resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_erasures_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_erasures_resident_id_residents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_erasures_staff_id_staff"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_index(op.f("ix_erasures_commune_id"), "erasures", ["commune_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_erasures_commune_id"), table_name="erasures")
    op.drop_table("erasures")
