from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("wallet_id", Uuid, nullable=False, index=True),
    Column("channel", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("secret", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("channel IN ('webhook', 'email')", name="known_channel"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payment_id", Uuid, nullable=False),
    Column("wallet_id", Uuid, nullable=False, index=True),
    Column("subscription_id", Uuid, ForeignKey("subscriptions.id"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    # One notification per event and subscription, however often Kafka delivers the event.
    UniqueConstraint("event_id", "subscription_id", name="one_per_event_and_subscription"),
    CheckConstraint("status IN ('pending', 'retrying', 'delivered', 'dead')", name="known_status"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("notification_id", Uuid, ForeignKey("notifications.id"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
