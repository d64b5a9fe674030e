"""The trace a payment was accepted in, so the saga timer re-sends its steps in that trace.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("traceparent", sa.Text()))


def downgrade() -> None:
    op.drop_column("payments", "traceparent")
