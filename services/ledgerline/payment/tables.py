from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)

from ledgerline.core.idempotency import idempotency_table

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("source_wallet_id", Uuid),
    Column("destination_wallet_id", Uuid),
    Column("original_payment_id", Uuid, ForeignKey("payments.id")),
    Column("external_reference", Text),
    Column("failure_reason", Text),
    Column("attempts", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    # W3C traceparent of the request that accepted the payment (only with tracing on).
    Column("traceparent", Text),
    # A cross-currency transfer: the quote it used and what its destination receives.
    Column("destination_amount_minor", BigInteger),
    Column("destination_currency", Text),
    Column("quote_id", Uuid),
    # The atomic batch whose holds the payment shares (null for a payment on its own).
    Column("group_id", Uuid),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("destination_amount_minor > 0", name="destination_amount_positive"),
    Index("payments_due", "next_attempt_at", postgresql_where="next_attempt_at IS NOT NULL"),
    Index("payments_original", "original_payment_id", postgresql_where="original_payment_id IS NOT NULL"),
    # Payment history pages: newest first by (created_at, id), overall and per wallet side.
    Index("payments_created", "created_at", "id"),
    Index("payments_source", "source_wallet_id", "created_at", "id"),
    Index("payments_destination", "destination_wallet_id", "created_at", "id"),
    Index("payments_group", "group_id", "id", postgresql_where="group_id IS NOT NULL"),
)

transitions = Table(
    "payment_transitions",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("payment_id", Uuid, ForeignKey("payments.id"), nullable=False, index=True),
    Column("from_status", Text),
    Column("to_status", Text, nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = idempotency_table(metadata)

# Wallets whose id and currency the payment service has learnt (wallet.opened, or a lookup):
# neither ever changes, so the copy never goes stale.
known_wallets = Table(
    "known_wallets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("currency", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("owner_id", Text),
)

# Exchange rates managed by the operator: one unit of `base` buys `rate_scaled / 10^8` of `quote`.
fx_rates = Table(
    "fx_rates",
    metadata,
    Column("base", Text, primary_key=True),
    Column("quote", Text, primary_key=True),
    Column("rate_scaled", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("rate_scaled > 0", name="rate_positive"),
)

# Quotes given to callers; `payment_id` is set, once, by the transfer that uses the quote.
fx_quotes = Table(
    "fx_quotes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Text, nullable=False),
    Column("source_currency", Text, nullable=False),
    Column("destination_currency", Text, nullable=False),
    Column("rate_scaled", BigInteger, nullable=False),
    Column("source_amount_minor", BigInteger, nullable=False),
    Column("destination_amount_minor", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("payment_id", Uuid, unique=True),
    CheckConstraint("source_amount_minor > 0 AND destination_amount_minor > 0", name="amounts_positive"),
    Index("fx_quotes_expires", "expires_at"),  # Retention finds the oldest quotes.
)
