"""Refunds as consumed, so that a refund is counted once and one consumed before its payment
still claws back that payment's reward.

Revision ID: 0002_refunds
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from ledgerline.core.migrations import timestamp_column

revision = "0002_refunds"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("refund_payment_id", sa.Uuid, primary_key=True),
        sa.Column("original_payment_id", sa.Uuid, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        timestamp_column("seen_at"),
        sa.CheckConstraint("amount_minor > 0", name="refund_positive"),
    )
    op.create_index("refunds_original", "refunds", ["original_payment_id", "seen_at"])


def downgrade() -> None:
    op.drop_table("refunds")
