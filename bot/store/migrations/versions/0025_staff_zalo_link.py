"""The linked Zalo account's name and link date, shown to the staff member (review of issue 13)

Revision ID: 0025_staff_zalo_link
Revises: 0020_audit_events
Create Date: 2026-12-03

A Zalo sign-in link is a second credential: the profile page names the linked account and when
it was linked, so a link nobody remembers making stands out.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0025_staff_zalo_link"
down_revision = "0020_audit_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zalo_login_name", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("zalo_linked_at", bot.store.types.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("zalo_linked_at")
        batch_op.drop_column("zalo_login_name")
