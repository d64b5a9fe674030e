from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import create_engine
from ledgerline.core.idempotency import idempotency_table
from ledgerline.core.messaging_tables import messaging_metadata
from ledgerline.infra.launcher import Infrastructure

idempotency_metadata = MetaData()
idempotency_keys = idempotency_table(idempotency_metadata)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    """A fresh database with the core tables, on the session's PostgreSQL."""
    name = f"core_{uuid.uuid4().hex[:10]}"
    infra.postgres.create_database(name)
    engine = create_engine(infra.postgres.url(name), pool_size=5, pool_timeout_s=10)
    async with engine.begin() as connection:
        await connection.run_sync(messaging_metadata.create_all)
        await connection.run_sync(idempotency_metadata.create_all)
    yield engine
    await engine.dispose()
    infra.postgres.psql(f'DROP DATABASE "{name}" WITH (FORCE)')
