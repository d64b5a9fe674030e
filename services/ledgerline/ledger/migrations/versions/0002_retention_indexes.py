"""Indexes by age of the inbox rows, which retention deletes oldest first.

Revision ID: 0002
Revises: 0001
"""

from ledgerline.core.migrations import create_retention_indexes, drop_retention_indexes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_retention_indexes()


def downgrade() -> None:
    drop_retention_indexes()
