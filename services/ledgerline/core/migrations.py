"""Alembic, run programmatically: each service ships `<package>/migrations`.

`upgrade_to_head("ledgerline.wallet", url)` is what `ledgerline migrate wallet` and the Helm
hook Job run. Service migrations call `create_messaging_tables` for the outbox and inbox, whose
shape is the same in every service database.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from ledgerline.core.db import async_database_url
from ledgerline.core.messaging_tables import messaging_metadata


def alembic_config(package: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    # Percent signs in passwords would otherwise be read as interpolation.
    config.set_main_option("sqlalchemy.url", async_database_url(database_url).replace("%", "%%"))
    return config


def upgrade_to_head(package: str, database_url: str) -> None:
    command.upgrade(alembic_config(package, database_url), "head")


def database_metadata(service_metadata: MetaData) -> MetaData:
    """Every table of a service's database: its own tables, then the outbox and inbox.

    What the migrations must build, so autogenerate (and the schema test) compare against all of it.
    """
    combined = MetaData()
    for source in (service_metadata, messaging_metadata):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined


def run_env(service_metadata: MetaData) -> None:
    """Body of every service's `migrations/env.py` (online, async, one transaction)."""
    target_metadata = database_metadata(service_metadata)
    config = context.config
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        section: dict[str, Any] = config.get_section(config.config_ini_section, {})
        engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())


def timestamp_column(name: str) -> sa.Column[object]:
    """A `timestamptz NOT NULL DEFAULT now()` column, as every table's created_at has."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def create_messaging_tables() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("traceparent", sa.Text),
        timestamp_column("created_at"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        timestamp_column("processed_at"),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    create_retention_indexes()


def create_retention_indexes(*, idempotency: bool = False) -> None:
    """The indexes retention (core/retention.py) finds the oldest rows by; a database whose
    first migration already made them keeps them."""
    op.create_index("inbox_processed_at", "inbox", ["processed_at"], if_not_exists=True)
    if idempotency:
        op.create_index("idempotency_keys_created_at", "idempotency_keys", ["created_at"], if_not_exists=True)


def drop_retention_indexes(*, idempotency: bool = False) -> None:
    op.drop_index("inbox_processed_at", "inbox", if_exists=True)
    if idempotency:
        op.drop_index("idempotency_keys_created_at", "idempotency_keys", if_exists=True)
