"""Payment history in keyset order: (created_at, id) alone and behind each wallet side.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("payments_created", "payments", ["created_at", "id"])
    op.drop_index("payments_source", table_name="payments")
    op.drop_index("payments_destination", table_name="payments")
    op.create_index("payments_source", "payments", ["source_wallet_id", "created_at", "id"])
    op.create_index("payments_destination", "payments", ["destination_wallet_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("payments_source", table_name="payments")
    op.drop_index("payments_destination", table_name="payments")
    op.create_index("payments_source", "payments", ["source_wallet_id", "created_at"])
    op.create_index("payments_destination", "payments", ["destination_wallet_id", "created_at"])
    op.drop_index("payments_created", table_name="payments")
