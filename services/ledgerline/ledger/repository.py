"""Accounts, entries and postings in PostgreSQL. Postings are only ever inserted."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.db import one_of, write_every_row
from ledgerline.ledger.domain import Account, AccountKind, AccountStatus
from ledgerline.ledger.ports import LedgerStore, NewEntry
from ledgerline.ledger.tables import accounts, journal_entries, postings, voided_entries


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        kind=AccountKind(row.kind),
        currency=row.currency,
        status=AccountStatus(row.status),
        balance_minor=row.balance_minor,
        posting_count=row.posting_count,
    )


async def ensure_accounts(connection: AsyncConnection, wanted: Iterable[Account]) -> None:
    rows = [
        {
            "id": a.id,
            "kind": a.kind.value,
            "currency": a.currency,
            "status": a.status.value,
            "balance_minor": 0,
            "posting_count": 0,
        }
        for a in wanted
    ]
    if rows:
        await connection.execute(insert(accounts).on_conflict_do_nothing(), rows)


async def lock_accounts(connection: AsyncConnection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Account]:
    """Lock in id order so that concurrent batches touching the same accounts cannot deadlock."""
    statement = select(accounts).where(one_of(accounts.c.id, set(ids))).order_by(accounts.c.id).with_for_update()
    return {row.id: _account(row) for row in await connection.execute(statement)}


async def get_account(
    connection: AsyncConnection, account_id: uuid.UUID, *, for_update: bool = False
) -> Account | None:
    statement = select(accounts).where(accounts.c.id == account_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).first()
    return _account(row) if row else None


async def list_accounts(
    connection: AsyncConnection, *, kind: str | None, after: uuid.UUID | None, limit: int
) -> list[Account]:
    statement = select(accounts).order_by(accounts.c.id).limit(limit)
    if kind:
        statement = statement.where(accounts.c.kind == kind)
    if after:
        statement = statement.where(accounts.c.id > after)
    return [_account(row) for row in await connection.execute(statement)]


# One statement for any number of accounts (locked by the caller).
_SAVE_ACCOUNTS = text(
    """
    UPDATE accounts AS a
    SET balance_minor = u.balance_minor, posting_count = u.posting_count, status = u.status, updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:balances AS bigint[]), CAST(:counts AS bigint[]), CAST(:statuses AS text[]))
        AS u(id, balance_minor, posting_count, status)
    WHERE a.id = u.id
    RETURNING a.id
    """
)


async def save_accounts(connection: AsyncConnection, changed: Sequence[Account]) -> None:
    if not changed:
        return
    await write_every_row(
        connection,
        _SAVE_ACCOUNTS,
        {
            "ids": [a.id for a in changed],
            "balances": [a.balance_minor for a in changed],
            "counts": [a.posting_count for a in changed],
            "statuses": [a.status.value for a in changed],
        },
        rows=len(changed),
        what="accounts",
    )


async def existing_entries(connection: AsyncConnection, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    found = await connection.execute(select(journal_entries.c.id).where(one_of(journal_entries.c.id, set(entry_ids))))
    return set(found.scalars())


async def voided_entries_of(connection: AsyncConnection, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    statement = select(voided_entries.c.entry_id).where(one_of(voided_entries.c.entry_id, set(entry_ids)))
    return set((await connection.execute(statement)).scalars())


async def mark_voided_many(connection: AsyncConnection, voids: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    if voids:
        rows = [{"entry_id": entry_id, "payment_id": payment_id} for entry_id, payment_id in voids]
        await connection.execute(insert(voided_entries).on_conflict_do_nothing(), rows)


async def add_entries(connection: AsyncConnection, entries: Sequence[NewEntry]) -> None:
    """Entries and all their postings, one statement each."""
    if not entries:
        return
    await connection.execute(
        journal_entries.insert(),
        [{"id": e.entry_id, "payment_id": e.payment_id, "description": e.description} for e in entries],
    )
    await connection.execute(
        postings.insert(),
        [
            {
                "entry_id": e.entry_id,
                "account_id": p.account_id,
                "currency": p.currency,
                "amount_minor": p.amount_minor,
                "balance_after_minor": p.balance_after_minor,
                "account_sequence": p.account_sequence,
            }
            for e in entries
            for p in e.applied
        ],
    )


async def account_postings(
    connection: AsyncConnection, account_id: uuid.UUID, *, before_sequence: int | None, limit: int
) -> list[Row[Any]]:
    """Newest first; `before_sequence` is the keyset cursor."""
    statement = (
        select(postings, journal_entries.c.description, journal_entries.c.payment_id)
        .join(journal_entries, journal_entries.c.id == postings.c.entry_id)
        .where(postings.c.account_id == account_id)
        .order_by(postings.c.account_sequence.desc())
        .limit(limit)
    )
    if before_sequence is not None:
        statement = statement.where(postings.c.account_sequence < before_sequence)
    return list(await connection.execute(statement))


async def balance_as_of(connection: AsyncConnection, account_id: uuid.UUID, as_of: datetime) -> int:
    """The running balance after the last posting at or before `as_of` (0 before the first)."""
    statement = (
        select(postings.c.balance_after_minor)
        .where(postings.c.account_id == account_id, postings.c.created_at <= as_of)
        .order_by(postings.c.account_sequence.desc())
        .limit(1)
    )
    return int(await connection.scalar(statement) or 0)


async def entry_with_postings(
    connection: AsyncConnection, entry_id: uuid.UUID
) -> tuple[Row[Any], list[Row[Any]]] | None:
    entry = (await connection.execute(select(journal_entries).where(journal_entries.c.id == entry_id))).first()
    if entry is None:
        return None
    lines = list(
        await connection.execute(select(postings).where(postings.c.entry_id == entry_id).order_by(postings.c.id))
    )
    return entry, lines


class SqlLedgerStore(LedgerStore):
    """The ledger store on the connection of one unit of work."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def ensure_accounts(self, wanted: Iterable[Account]) -> None:
        await ensure_accounts(self._connection, wanted)

    async def lock_accounts(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Account]:
        return await lock_accounts(self._connection, ids)

    async def existing_entries(self, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return await existing_entries(self._connection, entry_ids)

    async def voided_entries_of(self, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return await voided_entries_of(self._connection, entry_ids)

    async def add_entries(self, entries: Sequence[NewEntry]) -> None:
        await add_entries(self._connection, entries)

    async def mark_voided_many(self, voids: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        await mark_voided_many(self._connection, voids)

    async def save_accounts(self, changed: Sequence[Account]) -> None:
        await save_accounts(self._connection, changed)
