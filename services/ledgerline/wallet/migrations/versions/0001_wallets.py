"""Wallets, holds, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledgerline.core.migrations import create_messaging_tables, timestamp_column

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("owner_id", sa.Text, nullable=False, index=True),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("balance_minor", sa.BigInteger, nullable=False),
        sa.Column("held_minor", sa.BigInteger, nullable=False),
        sa.Column("overdraft_limit_minor", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        timestamp_column("created_at"),
        timestamp_column("updated_at"),
        sa.CheckConstraint("held_minor >= 0", name="held_not_negative"),
        sa.CheckConstraint("balance_minor - held_minor >= -overdraft_limit_minor", name="available_within_limit"),
        sa.CheckConstraint("status IN ('active', 'frozen')", name="known_status"),
    )
    op.create_table(
        "holds",
        sa.Column("payment_id", sa.Uuid, primary_key=True),
        sa.Column("wallet_id", sa.Uuid, nullable=False, index=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        timestamp_column("created_at"),
        timestamp_column("updated_at"),
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        sa.CheckConstraint("status IN ('held', 'released', 'settled')", name="known_status"),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "holds", "wallets"):
        op.drop_table(table)
