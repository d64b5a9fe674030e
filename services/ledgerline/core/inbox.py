"""Inbox: the ids of processed messages, written in the effect's own transaction.

`claim_new` inserts a batch of ids and returns those not seen before; a redelivered message
finds its id taken and is skipped, so every consumer is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# One statement, compiled once, for any number of ids (a VALUES list would be recompiled for
# every batch size).
_CLAIM = text(
    "INSERT INTO inbox (consumer, event_id) SELECT :consumer, unnest(CAST(:ids AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


async def claim_new(connection: AsyncConnection, consumer: str, event_ids: Sequence[str]) -> set[str]:
    if not event_ids:
        return set()
    result = await connection.execute(_CLAIM, {"consumer": consumer, "ids": list(dict.fromkeys(event_ids))})
    return set(result.scalars())
