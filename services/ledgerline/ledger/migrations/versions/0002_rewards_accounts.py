"""Accounts of kind `rewards`: per currency, the account that funds cashback.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("known_kind", "accounts", type_="check")
    op.create_check_constraint("known_kind", "accounts", "kind IN ('wallet', 'settlement', 'rewards')")


def downgrade() -> None:
    op.drop_constraint("known_kind", "accounts", type_="check")
    op.create_check_constraint("known_kind", "accounts", "kind IN ('wallet', 'settlement')")
