"""Accounts of kind `rewards`: per currency, the account that funds cashback.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("known_kind", "accounts", type_="check")
    op.create_check_constraint("known_kind", "accounts", "kind IN ('wallet', 'settlement', 'rewards')")


def downgrade() -> None:
    op.drop_constraint("known_kind", "accounts", type_="check")
    op.create_check_constraint("known_kind", "accounts", "kind IN ('wallet', 'settlement')")
