"""Inbox: the ids of processed messages, written in the effect's own transaction.

`claim_new` inserts a batch of ids and returns those not seen before; a redelivered message
finds its id taken and is skipped, so every consumer is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.messaging_tables import inbox_table


async def claim_new(connection: AsyncConnection, consumer: str, event_ids: Sequence[str]) -> set[str]:
    if not event_ids:
        return set()
    statement = (
        insert(inbox_table)
        .values([{"consumer": consumer, "event_id": event_id} for event_id in dict.fromkeys(event_ids)])
        .on_conflict_do_nothing()
        .returning(inbox_table.c.event_id)
    )
    return set((await connection.execute(statement)).scalars())
