from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)

metadata = MetaData()

wallets = Table(
    "wallets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Text, nullable=False, index=True),
    Column("currency", Text, nullable=False),
    Column("balance_minor", BigInteger, nullable=False),
    Column("held_minor", BigInteger, nullable=False),
    Column("overdraft_limit_minor", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The database refuses what the domain refuses, as a last line of defence.
    CheckConstraint("held_minor >= 0", name="held_not_negative"),
    CheckConstraint("balance_minor - held_minor >= -overdraft_limit_minor", name="available_within_limit"),
    CheckConstraint("status IN ('active', 'frozen')", name="known_status"),
)

holds = Table(
    "holds",
    metadata,
    Column("payment_id", Uuid, primary_key=True),
    Column("wallet_id", Uuid, nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),  # Why a reserve was refused (status 'rejected').
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    CheckConstraint("status IN ('held', 'released', 'settled', 'rejected')", name="known_status"),
)

# Holds released by an operator because their payment ended without them: the audit, one row per
# hold (a hold is released once).
hold_releases = Table(
    "hold_releases",
    metadata,
    Column("payment_id", Uuid, primary_key=True),
    Column("wallet_id", Uuid, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("payment_status", Text),  # What the payment service said; NULL: it knows no such payment.
    Column("released_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
)
