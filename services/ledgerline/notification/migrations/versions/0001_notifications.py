"""Subscriptions, notifications, delivery attempts, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from ledgerline.core.migrations import create_messaging_tables, timestamp_column

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("wallet_id", sa.Uuid, nullable=False, index=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        timestamp_column("created_at"),
        sa.CheckConstraint("channel IN ('webhook', 'email')", name="known_channel"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payment_id", sa.Uuid, nullable=False),
        sa.Column("wallet_id", sa.Uuid, nullable=False, index=True),
        sa.Column("subscription_id", sa.Uuid, sa.ForeignKey("subscriptions.id"), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        timestamp_column("created_at"),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("event_id", "subscription_id", name="one_per_event_and_subscription"),
        sa.CheckConstraint("status IN ('pending', 'retrying', 'delivered', 'dead')", name="known_status"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.Uuid, sa.ForeignKey("notifications.id"), nullable=False, index=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        timestamp_column("at"),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "delivery_attempts", "notifications", "subscriptions"):
        op.drop_table(table)
