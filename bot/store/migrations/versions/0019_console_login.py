"""The staff console's login: passwords, lock-out, sessions, invitations (issue 13)

Revision ID: 0019_console_login
Revises: 0017_training_examples
Create Date: 2026-12-03

``staff.login`` (unique), ``staff.password_hash`` (argon2id), ``staff.failed_logins`` and
``staff.locked_until`` (repeated wrong passwords lock the login for a while).
``console_sessions``: one row per signed-in browser, only the cookie's SHA-256 kept.
``staff_invitations``: one-time links to set a password, only the token's SHA-256 kept.
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = "0019_console_login"
down_revision = "0017_training_examples"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("locked_until", bot.store.types.UTCDateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_staff_login"), ["login"])
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.Column("seen_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_console_sessions_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_console_sessions_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_console_sessions_staff_id"), "console_sessions", ["staff_id"], unique=False
    )
    op.create_table(
        "staff_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bot.store.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", bot.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["communes.id"],
            name=op.f("fk_staff_invitations_commune_id_communes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_invitations_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_staff_invitations_staff_id"), "staff_invitations", ["staff_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_invitations_staff_id"), table_name="staff_invitations")
    op.drop_table("staff_invitations")
    op.drop_index(op.f("ix_console_sessions_staff_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_staff_login"), type_="unique")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("password_hash")
        batch_op.drop_column("login")
