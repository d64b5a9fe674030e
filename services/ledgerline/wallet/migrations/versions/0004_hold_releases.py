"""The audit of holds an operator released by hand because their payment had ended without them
(or never existed): who, when, why, which hold and how much.

Revision ID: 0004_hold_releases
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_hold_releases"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hold_releases",
        sa.Column("payment_id", sa.Uuid, primary_key=True),
        sa.Column("wallet_id", sa.Uuid, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("payment_status", sa.Text),
        sa.Column("released_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    )


def downgrade() -> None:
    op.drop_table("hold_releases")
