"""Staff keys show which key they are (the first characters of each new key) and when used

Revision ID: 0014e3
Revises: 0014e2
Create Date: 2026-12-02

``staff_keys.prefix``: the key's first 8 characters (``cb_`` and 5 of its 43 random ones), kept
so `bot staff list` and ``GET …/staff`` can tell staff which key is which without showing it.
Keys issued before have none (null). Only the key's SHA-256 is kept, as before.
``staff_keys.used_at``: when the key last authenticated an API call (written at most every few
minutes per key), so unused keys can be found and revoked.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0014e3"
down_revision = "0014e2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefix", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("used_at", bot.store.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_keys", schema=None) as batch_op:
        batch_op.drop_column("used_at")
        batch_op.drop_column("prefix")
