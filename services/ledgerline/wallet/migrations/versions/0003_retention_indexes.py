"""Indexes by age of the inbox rows, which retention deletes oldest first.

Revision ID: 0003
Revises: 0002
"""

from ledgerline.core.migrations import create_retention_indexes, drop_retention_indexes

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_retention_indexes()


def downgrade() -> None:
    drop_retention_indexes()
