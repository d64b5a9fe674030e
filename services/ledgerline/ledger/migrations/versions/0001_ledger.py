"""Accounts, journal entries, postings (append-only), voided entries, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledgerline.core.migrations import create_messaging_tables, timestamp_column

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIMESTAMPS = ("created_at", "updated_at")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("balance_minor", sa.BigInteger, nullable=False),
        sa.Column("posting_count", sa.BigInteger, nullable=False),
        *[timestamp_column(name) for name in _TIMESTAMPS],
        sa.CheckConstraint("kind IN ('wallet', 'settlement')", name="known_kind"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="known_status"),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("payment_id", sa.Uuid, nullable=False, index=True),
        sa.Column("description", sa.Text, nullable=False),
        timestamp_column("created_at"),
    )
    op.create_table(
        "postings",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("entry_id", sa.Uuid, sa.ForeignKey("journal_entries.id"), nullable=False, index=True),
        sa.Column("account_id", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("balance_after_minor", sa.BigInteger, nullable=False),
        sa.Column("account_sequence", sa.BigInteger, nullable=False),
        timestamp_column("created_at"),
        sa.CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
    )
    op.create_index("postings_account_sequence", "postings", ["account_id", "account_sequence"], unique=True)
    op.create_index("postings_account_time", "postings", ["account_id", "created_at"])
    op.create_table(
        "voided_entries",
        sa.Column("entry_id", sa.Uuid, primary_key=True),
        sa.Column("payment_id", sa.Uuid, nullable=False),
        timestamp_column("voided_at"),
    )
    # Entries and postings are never updated or deleted; a correction is a new entry.
    op.execute(
        "CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in ("journal_entries", "postings"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "voided_entries", "postings", "journal_entries", "accounts"):
        op.drop_table(table)
    op.execute("DROP FUNCTION refuse_change()")
