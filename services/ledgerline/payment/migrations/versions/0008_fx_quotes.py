"""Cross-currency transfers: exchange rates, quotes, and what a transfer's destination receives.

Revision ID: 0008_fx_quotes
Revises: 0007_transfer_groups
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_fx_quotes"
down_revision = "0007_transfer_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("destination_amount_minor", sa.BigInteger()))
    op.add_column("payments", sa.Column("destination_currency", sa.Text()))
    op.add_column("payments", sa.Column("quote_id", sa.Uuid()))
    op.create_check_constraint("destination_amount_positive", "payments", "destination_amount_minor > 0")
    op.create_table(
        "fx_rates",
        sa.Column("base", sa.Text, primary_key=True),
        sa.Column("quote", sa.Text, primary_key=True),
        sa.Column("rate_scaled", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("rate_scaled > 0", name="rate_positive"),
    )
    op.create_table(
        "fx_quotes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("owner_id", sa.Text, nullable=False),
        sa.Column("source_currency", sa.Text, nullable=False),
        sa.Column("destination_currency", sa.Text, nullable=False),
        sa.Column("rate_scaled", sa.BigInteger, nullable=False),
        sa.Column("source_amount_minor", sa.BigInteger, nullable=False),
        sa.Column("destination_amount_minor", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payment_id", sa.Uuid, unique=True),
        sa.CheckConstraint("source_amount_minor > 0 AND destination_amount_minor > 0", name="amounts_positive"),
    )
    op.create_index("fx_quotes_expires", "fx_quotes", ["expires_at"])


def downgrade() -> None:
    op.drop_table("fx_quotes")
    op.drop_table("fx_rates")
    op.drop_constraint("destination_amount_positive", "payments", type_="check")
    for column in ("quote_id", "destination_currency", "destination_amount_minor"):
        op.drop_column("payments", column)
