"""web chat: photos residents upload, origin keys to cap reports per address

Revision ID: 0013c
Revises: 0012
Create Date: 2026-12-01

The public web chat files reports like Zalo does, so it is capped per network address: a keyed
hash of the address (never the address) on the resident and the ticket. Photos sent from the
page are kept in the database with their commune (``uploads``), shown to staff only.
"""

import sqlalchemy as sa
from alembic import op

from bot.store.types import UTCDateTime

revision = "0013c"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("session", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_uploads_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("token", name=op.f("uq_uploads_token")),
    )
    op.create_index(
        "ix_uploads_commune_session", "uploads", ["commune_id", "session"], unique=False
    )
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin_key", sa.String(length=32), nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin_key", sa.String(length=32), nullable=True))
        batch_op.create_index(
            "ix_tickets_origin_received", ["origin_key", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_origin_received")
        batch_op.drop_column("origin_key")
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_column("origin_key")
    op.drop_index("ix_uploads_commune_session", table_name="uploads")
    op.drop_table("uploads")
