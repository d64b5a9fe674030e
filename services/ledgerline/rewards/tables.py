from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)

metadata = MetaData()

rules = Table(
    "rules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("payment_type", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount_min_minor", BigInteger, nullable=False),
    Column("rate_bps", Integer, nullable=False),
    Column("bonus_minor", BigInteger, nullable=False),
    Column("monthly_cap_minor", BigInteger, nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("rate_bps BETWEEN 0 AND 10000", name="rate_in_basis_points"),
    CheckConstraint("amount_min_minor >= 0 AND bonus_minor >= 0 AND monthly_cap_minor > 0", name="amounts_valid"),
    Index("rules_applicable", "payment_type", "currency"),
)

rewards = Table(
    "rewards",
    metadata,
    # Also the id of the reward's payment in the payment service.
    Column("id", Uuid, primary_key=True),
    Column("rule_id", Uuid, ForeignKey("rules.id"), nullable=False),
    Column("source_payment_id", Uuid, nullable=False),
    Column("wallet_id", Uuid, nullable=False),
    Column("holder_id", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("month", Text, nullable=False),
    Column("source_amount_minor", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("failure_reason", Text),
    # Set once the payment service accepted the reward's payment.
    Column("requested_at", DateTime(timezone=True)),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("clawback_asked_minor", BigInteger, nullable=False, server_default="0"),
    Column("clawed_back_minor", BigInteger, nullable=False, server_default="0"),
    Column("owed_minor", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # At most one reward per source payment and rule, however often the payment is announced.
    UniqueConstraint("source_payment_id", "rule_id", name="one_per_payment_and_rule"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("status IN ('pending', 'paid', 'failed')", name="known_status"),
    Index("rewards_wallet", "wallet_id", "created_at", "id"),
    Index("rewards_unrequested", "created_at", postgresql_where="requested_at IS NULL AND status = 'pending'"),
)

# What each rule paid each holder per calendar month: the row a new reward locks to respect the cap.
monthly_totals = Table(
    "monthly_totals",
    metadata,
    Column("rule_id", Uuid, ForeignKey("rules.id"), nullable=False),
    Column("holder_id", Text, nullable=False),
    Column("month", Text, nullable=False),
    Column("rewarded_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("rule_id", "holder_id", "month"),
)

clawbacks = Table(
    "clawbacks",
    metadata,
    # Also the id of the clawback's payment in the payment service (when one is made).
    Column("id", Uuid, primary_key=True),
    Column("reward_id", Uuid, ForeignKey("rewards.id"), nullable=False, index=True),
    Column("refund_payment_id", Uuid, nullable=False),
    Column("due_minor", BigInteger, nullable=False),
    # Decided before the payment is asked for, from the wallet's available balance.
    Column("amount_minor", BigInteger),
    Column("owed_minor", BigInteger, nullable=False, server_default="0"),
    Column("status", Text, nullable=False),
    Column("failure_reason", Text),
    Column("requested_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("due_minor > 0", name="due_positive"),
    CheckConstraint("status IN ('pending', 'completed', 'owed')", name="known_status"),
    Index("clawbacks_unrequested", "created_at", postgresql_where="requested_at IS NULL AND status = 'pending'"),
)

# Every refund consumed of a payment in a currency some rule rewards: a refund announced again is
# counted once, and one consumed before the payment it refunds claws back once that payment's
# reward is made. Kept, like the rewards, as their history.
refunds = Table(
    "refunds",
    metadata,
    Column("refund_payment_id", Uuid, primary_key=True),
    Column("original_payment_id", Uuid, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor > 0", name="refund_positive"),
    Index("refunds_original", "original_payment_id", "seen_at"),
)
