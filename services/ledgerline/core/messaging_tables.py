"""Outbox and inbox tables, identical in every service's database."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

messaging_metadata = MetaData()

outbox_table = Table(
    "outbox",
    messaging_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
    Column("traceparent", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

inbox_table = Table(
    "inbox",
    messaging_metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
    # Retention (core/retention.py) deletes the oldest rows first.
    Index("inbox_processed_at", "processed_at"),
)
