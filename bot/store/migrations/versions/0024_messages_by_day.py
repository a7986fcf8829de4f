"""Residents' messages of a commune by time: the dashboard's figures (issue 13)

Revision ID: 0024_messages_by_day
Revises: 0023_staff_zalo_login
Create Date: 2026-12-03

``messages (commune_id, created_at)``: the dashboard and the yearly report count a commune's
messages in a window of days (bot/figures/queries.py). With only ``commune_id`` indexed,
PostgreSQL read every block holding one of the commune's messages of all time to keep the
window's (bench/dashboard.py: 0.94 s for one commune's 7 days among 1.8 M rows; see
docs/console-dashboard.md).
"""

from alembic import op

revision = "0024_messages_by_day"
down_revision = "0021_commune_facts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_commune_id_created_at", "messages", ["commune_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_commune_id_created_at", table_name="messages")
