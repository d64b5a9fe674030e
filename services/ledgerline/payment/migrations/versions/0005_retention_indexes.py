"""Indexes by age of the inbox rows and idempotency records, which retention deletes oldest first.

Revision ID: 0005
Revises: 0004
"""

from ledgerline.core.migrations import create_retention_indexes, drop_retention_indexes

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_retention_indexes(idempotency=True)


def downgrade() -> None:
    drop_retention_indexes(idempotency=True)
