"""Holds also record a refused reserve (status 'rejected' and its reason), so a command that
arrives again gets the same answer instead of being decided anew.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("holds", sa.Column("reason", sa.Text))
    op.drop_constraint("known_status", "holds", type_="check")
    op.create_check_constraint("known_status", "holds", "status IN ('held', 'released', 'settled', 'rejected')")


def downgrade() -> None:
    op.execute("DELETE FROM holds WHERE status = 'rejected'")
    op.drop_constraint("known_status", "holds", type_="check")
    op.create_check_constraint("known_status", "holds", "status IN ('held', 'released', 'settled')")
    op.drop_column("holds", "reason")
