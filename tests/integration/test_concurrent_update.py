"""A wallet changed behind a batch's back fails the whole batch with ConcurrentUpdate: no money moves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import ConcurrentUpdate, UnitOfWork, create_engine
from ledgerline.core.migrations import upgrade_to_head
from ledgerline.infra.launcher import Infrastructure
from ledgerline.wallet import repository
from ledgerline.wallet.domain import Wallet


@pytest.fixture
async def wallet_engine(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    name = f"wallet_{uuid.uuid4().hex[:10]}"
    infra.postgres.create_database(name)
    # Alembic runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(upgrade_to_head, "ledgerline.wallet", infra.postgres.url(name))
    engine = create_engine(infra.postgres.url(name), pool_size=2, pool_timeout_s=30)
    yield engine
    await engine.dispose()
    infra.postgres.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


async def test_a_stale_wallet_fails_the_batch_and_nothing_is_written(wallet_engine: AsyncEngine) -> None:
    first = Wallet(uuid.uuid4(), "owner", "EUR", balance_minor=1_000)
    second = Wallet(uuid.uuid4(), "owner", "EUR", balance_minor=2_000)
    async with UnitOfWork(wallet_engine) as uow:
        await repository.add_wallets(uow.connection, [first, second])
        await uow.commit()

    # Another writer changes the first wallet without the batch's lock: its version moves on.
    async with wallet_engine.begin() as connection:
        await connection.execute(
            text("UPDATE wallets SET balance_minor = 1500, version = version + 1 WHERE id = :id"), {"id": first.id}
        )

    credited = [replace(w, balance_minor=w.balance_minor + 100, version=w.version + 1) for w in (first, second)]
    with pytest.raises(ConcurrentUpdate, match="1 of 2 wallets were not written"):
        async with UnitOfWork(wallet_engine) as uow:
            await repository.save_wallets(uow.connection, credited)
            await uow.commit()

    async with wallet_engine.connect() as connection:
        balances = {
            row.id: (row.balance_minor, row.version)
            for row in await connection.execute(text("SELECT id, balance_minor, version FROM wallets"))
        }
    # The other writer's change stands, and the batch's credit reached neither wallet.
    assert balances == {first.id: (1_500, 1), second.id: (2_000, 0)}
