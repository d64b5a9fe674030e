"""Accounts of kind `fx`: per currency, the platform's position from cross-currency transfers.

Revision ID: 0004_fx_accounts
Revises: 0003
"""

from alembic import op

revision = "0004_fx_accounts"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("known_kind", "accounts", type_="check")
    op.create_check_constraint("known_kind", "accounts", "kind IN ('wallet', 'settlement', 'rewards', 'fx')")


def downgrade() -> None:
    op.drop_constraint("known_kind", "accounts", type_="check")
    op.create_check_constraint("known_kind", "accounts", "kind IN ('wallet', 'settlement', 'rewards')")
