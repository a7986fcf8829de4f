"""The console's Zalo connection page and "Đăng nhập bằng Zalo" (issue 13)

Revision ID: 0023_staff_zalo_login
Revises: 0019_console_login
Create Date: 2026-12-03

``staff.zalo_login_id`` (unique): the app-scoped Zalo id a staff member linked for signing in;
``zalo_login_states``: one Zalo sign-in or link round trip (PKCE verifier, bound to a browser);
``oauth_states.return_to``: the console page an OA connection started from;
``ix_inbound_events_commune_channel_id``: the last webhook of a commune in one index read.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0023_staff_zalo_login"
down_revision = "0019_console_login"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zalo_login_id", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_staff_zalo_login_id"), ["zalo_login_id"])
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("return_to", sa.String(length=200), nullable=True))
    op.create_table(
        "zalo_login_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("code_verifier_enc", sa.Text(), nullable=False),
        sa.Column("created_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", bot.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_zalo_login_states_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_zalo_login_states")),
    )
    if op.get_context().dialect.name == "postgresql":
        # inbound_events is the busiest table: a plain CREATE INDEX would hold its writes (every
        # webhook) for the whole build. CONCURRENTLY cannot run in a transaction, hence the
        # autocommit block (alembic commits what came before it first).
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_inbound_events_commune_channel_id",
                "inbound_events",
                ["commune_id", "channel", "id"],
                unique=False,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index(
            "ix_inbound_events_commune_channel_id",
            "inbound_events",
            ["commune_id", "channel", "id"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_index("ix_inbound_events_commune_channel_id", table_name="inbound_events")
    op.drop_table("zalo_login_states")
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.drop_column("return_to")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_staff_zalo_login_id"), type_="unique")
        batch_op.drop_column("zalo_login_id")
