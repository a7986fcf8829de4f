"""outbound messages name their notice

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22

A notice's open sends and its cancellation targets were found with
``idempotency_key LIKE 'notice:<id>:%'``, which PostgreSQL's default-collation unique index
cannot serve (a scan of outbound_messages). Rows already queued get their notice from the key.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_outbound_messages_notice_id"), ["notice_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_messages_notice_id_notices"),
            "notices",
            ["notice_id"],
            ["id"],
            ondelete="SET NULL",
        )
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, idempotency_key FROM outbound_messages WHERE idempotency_key LIKE 'notice:%'"
        )
    ).all()
    known = {r[0] for r in bind.execute(sa.text("SELECT id FROM notices")).all()}
    updates = []
    for row_id, key in rows:
        part = key.split(":")[1] if key.count(":") >= 1 else ""
        if part.isdigit() and int(part) in known:
            updates.append({"id": row_id, "notice_id": int(part)})
    if updates:
        bind.execute(
            sa.text("UPDATE outbound_messages SET notice_id = :notice_id WHERE id = :id"), updates
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbound_messages_notice_id_notices"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbound_messages_notice_id"))
        batch_op.drop_column("notice_id")
