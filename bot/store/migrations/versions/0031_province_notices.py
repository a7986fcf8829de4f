"""A notice to many communes at once from the province (issue 14)

Revision ID: 0031_province_notices
Revises: 0026_notice_image
Create Date: 2026-12-04

``province_notices``: one row per province operator's request; each commune's own notice
points at it through ``notices.province_notice_id``.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0031_province_notices"
down_revision = "0026_notice_image"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "province_notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=12), nullable=False),
        sa.Column("headline", sa.String(length=200), nullable=False),
        sa.Column("direct", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_province_notices_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff.id"],
            name=op.f("fk_province_notices_created_by_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_province_notices")),
        sa.UniqueConstraint(
            "created_by", "idempotency_key", name=op.f("uq_province_notices_created_by")
        ),
    )
    with op.batch_alter_table("province_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_province_notices_commune_id"), ["commune_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_province_notices_province_code"), ["province_code"], unique=False
        )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "province_notice_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_notices_province_notice_id"), ["province_notice_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_notices_province_notice_id_province_notices"),
            "province_notices",
            ["province_notice_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_notices_province_notice_id_province_notices"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_notices_province_notice_id"))
        batch_op.drop_column("province_notice_id")
    with op.batch_alter_table("province_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_province_notices_province_code"))
        batch_op.drop_index(batch_op.f("ix_province_notices_commune_id"))
    op.drop_table("province_notices")
