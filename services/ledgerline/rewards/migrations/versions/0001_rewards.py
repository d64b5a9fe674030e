"""Rules, rewards, monthly totals, clawbacks, outbox and inbox.

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
        "rules",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("payment_type", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("amount_min_minor", sa.BigInteger, nullable=False),
        sa.Column("rate_bps", sa.Integer, nullable=False),
        sa.Column("bonus_minor", sa.BigInteger, nullable=False),
        sa.Column("monthly_cap_minor", sa.BigInteger, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
        timestamp_column("created_at"),
        sa.CheckConstraint("rate_bps BETWEEN 0 AND 10000", name="rate_in_basis_points"),
        sa.CheckConstraint(
            "amount_min_minor >= 0 AND bonus_minor >= 0 AND monthly_cap_minor > 0", name="amounts_valid"
        ),
    )
    op.create_index("rules_applicable", "rules", ["payment_type", "currency"])
    op.create_table(
        "rewards",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("rule_id", sa.Uuid, sa.ForeignKey("rules.id"), nullable=False),
        sa.Column("source_payment_id", sa.Uuid, nullable=False),
        sa.Column("wallet_id", sa.Uuid, nullable=False),
        sa.Column("holder_id", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("month", sa.Text, nullable=False),
        sa.Column("source_amount_minor", sa.BigInteger, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("failure_reason", sa.Text),
        sa.Column("requested_at", sa.DateTime(timezone=True)),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("clawback_asked_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("clawed_back_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("owed_minor", sa.BigInteger, nullable=False, server_default="0"),
        timestamp_column("created_at"),
        timestamp_column("updated_at"),
        sa.UniqueConstraint("source_payment_id", "rule_id", name="one_per_payment_and_rule"),
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        sa.CheckConstraint("status IN ('pending', 'paid', 'failed')", name="known_status"),
    )
    op.create_index("rewards_wallet", "rewards", ["wallet_id", "created_at", "id"])
    op.create_index(
        "rewards_unrequested",
        "rewards",
        ["created_at"],
        postgresql_where=sa.text("requested_at IS NULL AND status = 'pending'"),
    )
    op.create_table(
        "monthly_totals",
        sa.Column("rule_id", sa.Uuid, sa.ForeignKey("rules.id"), nullable=False),
        sa.Column("holder_id", sa.Text, nullable=False),
        sa.Column("month", sa.Text, nullable=False),
        sa.Column("rewarded_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "holder_id", "month"),
    )
    op.create_table(
        "clawbacks",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("reward_id", sa.Uuid, sa.ForeignKey("rewards.id"), nullable=False, index=True),
        sa.Column("refund_payment_id", sa.Uuid, nullable=False),
        sa.Column("due_minor", sa.BigInteger, nullable=False),
        sa.Column("amount_minor", sa.BigInteger),
        sa.Column("owed_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("failure_reason", sa.Text),
        sa.Column("requested_at", sa.DateTime(timezone=True)),
        timestamp_column("created_at"),
        timestamp_column("updated_at"),
        sa.CheckConstraint("due_minor > 0", name="due_positive"),
        sa.CheckConstraint("status IN ('pending', 'completed', 'owed')", name="known_status"),
    )
    op.create_index(
        "clawbacks_unrequested",
        "clawbacks",
        ["created_at"],
        postgresql_where=sa.text("requested_at IS NULL AND status = 'pending'"),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "clawbacks", "monthly_totals", "rewards", "rules"):
        op.drop_table(table)
