from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("balance_minor", BigInteger, nullable=False),
    Column("posting_count", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind IN ('wallet', 'settlement', 'rewards', 'fx')", name="known_kind"),
    CheckConstraint("status IN ('open', 'closed')", name="known_status"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("payment_id", Uuid, nullable=False, index=True),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

postings = Table(
    "postings",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("entry_id", Uuid, ForeignKey("journal_entries.id"), nullable=False, index=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("balance_after_minor", BigInteger, nullable=False),
    Column("account_sequence", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
    Index("postings_account_sequence", "account_id", "account_sequence", unique=True),
    Index("postings_account_time", "account_id", "created_at"),
)

voided_entries = Table(
    "voided_entries",
    metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("payment_id", Uuid, nullable=False),
    Column("voided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
