"""Exchange rates and quotes in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.payment.fx import Quote
from ledgerline.payment.tables import fx_quotes, fx_rates


async def put_rate(connection: AsyncConnection, base: str, quote: str, rate_scaled: int) -> datetime:
    """Set the rate of a pair, new or not; returns when it was set."""
    values = insert(fx_rates).values(base=base, quote=quote, rate_scaled=rate_scaled)
    statement = values.on_conflict_do_update(
        index_elements=[fx_rates.c.base, fx_rates.c.quote],
        set_={"rate_scaled": values.excluded.rate_scaled, "updated_at": func.now()},
    ).returning(fx_rates.c.updated_at)
    updated_at: datetime = (await connection.execute(statement)).scalar_one()
    return updated_at


async def put_rate_within(
    connection: AsyncConnection, base: str, quote: str, rate_scaled: int, pairs_max: int
) -> datetime | None:
    """`put_rate`, unless the pair is new and the table already holds `pairs_max` pairs (None)."""
    exists = await get_rate(connection, base, quote) is not None
    if not exists and int(await connection.scalar(select(func.count()).select_from(fx_rates)) or 0) >= pairs_max:
        return None
    return await put_rate(connection, base, quote, rate_scaled)


async def list_rates(connection: AsyncConnection, limit: int) -> list[Row[Any]]:
    statement = select(fx_rates).order_by(fx_rates.c.base, fx_rates.c.quote).limit(limit)
    return list(await connection.execute(statement))


async def get_rate(connection: AsyncConnection, base: str, quote: str) -> int | None:
    statement = select(fx_rates.c.rate_scaled).where(fx_rates.c.base == base, fx_rates.c.quote == quote)
    found = await connection.scalar(statement)
    return int(found) if found is not None else None


async def add_quote(connection: AsyncConnection, quote: Quote) -> None:
    await connection.execute(
        fx_quotes.insert().values(
            id=quote.id,
            owner_id=quote.owner_id,
            source_currency=quote.source_currency,
            destination_currency=quote.destination_currency,
            rate_scaled=quote.rate_scaled,
            source_amount_minor=quote.source_amount_minor,
            destination_amount_minor=quote.destination_amount_minor,
            created_at=quote.created_at,
            expires_at=quote.expires_at,
        )
    )


async def get_quote(connection: AsyncConnection, quote_id: uuid.UUID, *, for_update: bool = False) -> Quote | None:
    statement = select(fx_quotes).where(fx_quotes.c.id == quote_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).first()
    if row is None:
        return None
    return Quote(
        row.id,
        row.owner_id,
        row.source_currency,
        row.destination_currency,
        row.rate_scaled,
        row.source_amount_minor,
        row.destination_amount_minor,
        row.created_at,
        row.expires_at,
        row.payment_id,
    )


async def mark_used(connection: AsyncConnection, quote_id: uuid.UUID, payment_id: uuid.UUID) -> None:
    await connection.execute(update(fx_quotes).where(fx_quotes.c.id == quote_id).values(payment_id=payment_id))
