"""Zalo's rules: staff typing in OA Manager pauses the bot; a relay records why it could not go

Revision ID: 0013f
Revises: 0013c
Create Date: 2026-11-23

``conversations.paused_until``: an ``oa_send_*`` echo of staff typing in Zalo's OA Manager keeps
the bot quiet for that resident until then. ``notice_relays.problem``: why a propagandist's
package could not go (``window_closed``: they have not messaged the OA in 7 days; ``failed``),
so staff are told and the notice's figures show it per village.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0013f"
down_revision = "0013c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_until", bot.store.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("notice_relays", schema=None) as batch_op:
        batch_op.add_column(sa.Column("problem", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_relays", schema=None) as batch_op:
        batch_op.drop_column("problem")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("paused_until")
