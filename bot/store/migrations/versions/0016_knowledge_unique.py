"""knowledge_entries: one entry per owner and question; staff's own columns; hidden entries

Revision ID: 0016_knowledge_unique
Revises: 0015
Create Date: 2026-12-03

Two partial unique indexes, so the same question (``key``) cannot be stored twice for one
owner: (commune_id, key) where commune_id is set, (province_code, key) where it is null (a
province's entry). Rows already doubled (two imports at once) are removed first, keeping the
newest (highest id). ``extra``: the columns staff keep beside the entry in their spreadsheet
("ghi chú", "người phụ trách"), exported back in their order. ``hidden``: a commune's entry
that hides its province's entry with the same question (docs/knowledge.md).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016_knowledge_unique"
down_revision = "0015"
branch_labels = None
depends_on = None

#: owner → (the owner's column, which rows are that owner's, the same owner in ``newer``)
_OWNERS = {
    "commune": ("commune_id", "commune_id IS NOT NULL", "newer.commune_id = k.commune_id"),
    "province": (
        "province_code",
        "commune_id IS NULL",
        "newer.commune_id IS NULL AND newer.province_code = k.province_code",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("knowledge_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "extra",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    for owner, (column, where, same) in _OWNERS.items():
        op.execute(
            sa.text(
                f"DELETE FROM knowledge_entries WHERE id IN (SELECT k.id FROM knowledge_entries "
                f"AS k WHERE k.{where} AND EXISTS (SELECT 1 FROM knowledge_entries AS newer "
                f"WHERE {same} AND newer.key = k.key AND newer.id > k.id))"
            )
        )
        op.create_index(
            f"uq_knowledge_entries_{owner}_key",
            "knowledge_entries",
            [column, "key"],
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    # below 0016 nothing knows ``hidden``: a hidden entry would be a commune's entry with an
    # empty answer, overriding its province's and sent to residents as an empty message
    entries = sa.table("knowledge_entries", sa.column("hidden", sa.Boolean()))
    op.execute(entries.delete().where(entries.c.hidden.is_(sa.true())))
    for owner in _OWNERS:
        op.drop_index(f"uq_knowledge_entries_{owner}_key", table_name="knowledge_entries")
    with op.batch_alter_table("knowledge_entries", schema=None) as batch_op:
        batch_op.drop_column("hidden")
        batch_op.drop_column("extra")
