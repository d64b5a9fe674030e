"""Payments, transitions, idempotency keys, outbox and inbox.

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
        "payments",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("source_wallet_id", sa.Uuid),
        sa.Column("destination_wallet_id", sa.Uuid),
        sa.Column("original_payment_id", sa.Uuid, sa.ForeignKey("payments.id")),
        sa.Column("external_reference", sa.Text),
        sa.Column("failure_reason", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        timestamp_column("created_at"),
        timestamp_column("updated_at"),
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    )
    op.create_index("payments_due", "payments", ["next_attempt_at"], postgresql_where="next_attempt_at IS NOT NULL")
    op.create_index(
        "payments_original", "payments", ["original_payment_id"], postgresql_where="original_payment_id IS NOT NULL"
    )
    op.create_index("payments_source", "payments", ["source_wallet_id", "created_at"])
    op.create_index("payments_destination", "payments", ["destination_wallet_id", "created_at"])
    op.create_table(
        "payment_transitions",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("payment_id", sa.Uuid, sa.ForeignKey("payments.id"), nullable=False, index=True),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        timestamp_column("at"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("body", sa.dialects.postgresql.JSONB, nullable=False),
        timestamp_column("created_at"),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "idempotency_keys", "payment_transitions", "payments"):
        op.drop_table(table)
