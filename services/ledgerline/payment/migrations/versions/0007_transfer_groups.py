"""The atomic batch each payment belongs to, so a group's holds are re-sent as one command.

Revision ID: 0007_transfer_groups
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_transfer_groups"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("group_id", sa.Uuid()))
    op.create_index("payments_group", "payments", ["group_id", "id"], postgresql_where=sa.text("group_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("payments_group", table_name="payments")
    op.drop_column("payments", "group_id")
