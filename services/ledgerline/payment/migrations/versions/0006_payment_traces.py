"""The trace a payment was accepted in, so the saga timer re-sends its steps in that trace.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("traceparent", sa.Text()))


def downgrade() -> None:
    op.drop_column("payments", "traceparent")
