"""Wallets and holds in PostgreSQL. Rows are locked (`FOR UPDATE`) before they change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.db import one_of, write_every_row
from ledgerline.wallet.domain import Hold, HoldRelease, HoldStatus, Wallet, WalletStatus
from ledgerline.wallet.ports import WalletStore
from ledgerline.wallet.tables import hold_releases, holds, wallets


def _wallet(row: Row[Any]) -> Wallet:
    return Wallet(
        id=row.id,
        owner_id=row.owner_id,
        currency=row.currency,
        balance_minor=row.balance_minor,
        held_minor=row.held_minor,
        overdraft_limit_minor=row.overdraft_limit_minor,
        status=WalletStatus(row.status),
        version=row.version,
    )


def _hold(row: Row[Any]) -> Hold:
    return Hold(row.payment_id, row.wallet_id, row.amount_minor, HoldStatus(row.status), row.reason)


async def add_wallets(connection: AsyncConnection, opened: Sequence[Wallet]) -> None:
    await connection.execute(
        wallets.insert(),
        [
            {
                "id": wallet.id,
                "owner_id": wallet.owner_id,
                "currency": wallet.currency,
                "balance_minor": wallet.balance_minor,
                "held_minor": wallet.held_minor,
                "overdraft_limit_minor": wallet.overdraft_limit_minor,
                "status": wallet.status.value,
                "version": wallet.version,
            }
            for wallet in opened
        ],
    )


async def get_wallet(connection: AsyncConnection, wallet_id: uuid.UUID, *, for_update: bool = False) -> Wallet | None:
    statement = select(wallets).where(wallets.c.id == wallet_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).first()
    return _wallet(row) if row else None


async def lock_wallets(connection: AsyncConnection, wallet_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Wallet]:
    """Lock several wallets in id order, so concurrent batches cannot deadlock on them."""
    statement = select(wallets).where(one_of(wallets.c.id, set(wallet_ids))).order_by(wallets.c.id).with_for_update()
    return {row.id: _wallet(row) for row in await connection.execute(statement)}


async def save_wallet(connection: AsyncConnection, wallet: Wallet) -> None:
    await save_wallets(connection, [wallet])


# One statement for any number of wallets; the version check catches a change made without the
# row lock, and the count of rows returned proves every wallet was written.
_SAVE_WALLETS = text(
    """
    UPDATE wallets AS w
    SET balance_minor = u.balance_minor, held_minor = u.held_minor, status = u.status, version = u.version,
        updated_at = now()
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:balances AS bigint[]), CAST(:helds AS bigint[]),
        CAST(:statuses AS text[]), CAST(:versions AS integer[])
    ) AS u(id, balance_minor, held_minor, status, version)
    WHERE w.id = u.id AND w.version = u.version - 1
    RETURNING w.id
    """
)


async def save_wallets(connection: AsyncConnection, changed: Sequence[Wallet]) -> None:
    """Write changed wallets, each one version step past the row as it was read."""
    if not changed:
        return
    await write_every_row(
        connection,
        _SAVE_WALLETS,
        {
            "ids": [w.id for w in changed],
            "balances": [w.balance_minor for w in changed],
            "helds": [w.held_minor for w in changed],
            "statuses": [w.status.value for w in changed],
            "versions": [w.version for w in changed],
        },
        rows=len(changed),
        what="wallets",
    )


async def list_wallets(
    connection: AsyncConnection,
    *,
    owner_id: str | None = None,
    after: uuid.UUID | None = None,
    limit: int,
) -> list[Wallet]:
    statement = select(wallets).order_by(wallets.c.id).limit(limit)
    if owner_id is not None:
        statement = statement.where(wallets.c.owner_id == owner_id)
    if after is not None:
        statement = statement.where(wallets.c.id > after)
    return [_wallet(row) for row in await connection.execute(statement)]


async def get_hold(connection: AsyncConnection, payment_id: uuid.UUID) -> Hold | None:
    return (await get_holds(connection, [payment_id])).get(payment_id)


async def get_holds(connection: AsyncConnection, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Hold]:
    statement = select(holds).where(one_of(holds.c.payment_id, set(payment_ids)))
    return {row.payment_id: _hold(row) for row in await connection.execute(statement)}


async def put_hold(connection: AsyncConnection, hold: Hold) -> None:
    await put_holds(connection, [hold])


async def put_holds(connection: AsyncConnection, changed: Sequence[Hold]) -> None:
    """Insert holds, or move existing ones to their new status (one statement; one row per payment)."""
    if not changed:
        return
    rows = [
        {
            "payment_id": hold.payment_id,
            "wallet_id": hold.wallet_id,
            "amount_minor": hold.amount_minor,
            "status": hold.status.value,
            "reason": hold.reason,
        }
        for hold in changed
    ]
    # One statement text for any number of holds (prepared once, sent for every row at once).
    statement = insert(holds)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[holds.c.payment_id],
            set_={"status": statement.excluded.status, "reason": statement.excluded.reason, "updated_at": func.now()},
        ),
        rows,
    )


async def add_hold_release(connection: AsyncConnection, release: HoldRelease) -> HoldRelease:
    """The audit row, written; returned with its time as the database set it."""
    statement = (
        hold_releases.insert()
        .values(
            payment_id=release.payment_id,
            wallet_id=release.wallet_id,
            amount_minor=release.amount_minor,
            currency=release.currency,
            payment_status=release.payment_status,
            released_by=release.released_by,
            reason=release.reason,
        )
        .returning(hold_releases.c.released_at)
    )
    released_at = (await connection.execute(statement)).scalar_one()
    return replace(release, released_at=released_at)


class SqlWalletStore(WalletStore):
    """The wallet store on the connection of one unit of work."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock_wallets(self, wallet_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Wallet]:
        return await lock_wallets(self._connection, wallet_ids)

    async def get_holds(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Hold]:
        return await get_holds(self._connection, payment_ids)

    async def save_wallets(self, changed: Sequence[Wallet]) -> None:
        await save_wallets(self._connection, changed)

    async def put_holds(self, changed: Sequence[Hold]) -> None:
        await put_holds(self._connection, changed)
