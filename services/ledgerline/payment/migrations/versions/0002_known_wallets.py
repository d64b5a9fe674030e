"""Wallets the payment service knows: id and currency, replicated from wallet.opened events.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from ledgerline.core.migrations import timestamp_column

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_wallets",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("currency", sa.Text, nullable=False),
        timestamp_column("created_at"),
    )


def downgrade() -> None:
    op.drop_table("known_wallets")
