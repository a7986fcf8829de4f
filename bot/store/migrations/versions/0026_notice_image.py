"""A notice's uploaded image (issue 13: "attach an image or PDF")

Revision ID: 0026_notice_image
Revises: 0025_staff_zalo_link
Create Date: 2026-12-04

A table of its own rather than a ``kind`` column on ``notice_files``: ``notice_files`` says "one
PDF per notice" with its unique ``notice_id``, which a ``kind`` would have to turn into a unique
(notice_id, kind) — on SQLite a rebuild of the table — and an image carries what a PDF does not
(its checked content type and size in pixels) and lacks what a PDF has (a name residents see).
Zalo keeps the upload as an ``attachment_id`` per OA, kept in ``zalo_tokens`` as for the PDF.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0026_notice_image"
down_revision = "0025_staff_zalo_link"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_images",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column(
            "zalo_tokens",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_notice_images_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_images_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_images")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_notice_images_notice_id")),
    )


def downgrade() -> None:
    op.drop_table("notice_images")
