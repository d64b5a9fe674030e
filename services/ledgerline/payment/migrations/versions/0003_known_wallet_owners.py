"""Known wallets also record their owner, so payments are checked against who asks.

Rows from before have no owner; the payment service asks the wallet service about such a
wallet once and fills it in.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("known_wallets", sa.Column("owner_id", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("known_wallets", "owner_id")
