"""Payments, their transitions and due saga steps in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.payment.domain import Payment, PaymentType, Status
from ledgerline.payment.tables import payments, transitions

_ACTIVE_REFUND_STATUSES = [s.value for s in Status if s not in (Status.FAILED, Status.COMPENSATED)]


def _payment(row: Row) -> Payment:
    return Payment(
        id=row.id,
        type=PaymentType(row.type),
        status=Status(row.status),
        amount_minor=row.amount_minor,
        currency=row.currency,
        source_wallet_id=row.source_wallet_id,
        destination_wallet_id=row.destination_wallet_id,
        original_payment_id=row.original_payment_id,
        external_reference=row.external_reference,
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        version=row.version,
    )


def _columns(p: Payment) -> dict[str, object]:
    return {
        "status": p.status.value,
        "failure_reason": p.failure_reason,
        "attempts": p.attempts,
        "version": p.version,
    }


async def add(connection: AsyncConnection, p: Payment, next_attempt_at: datetime) -> None:
    await connection.execute(
        payments.insert().values(
            id=p.id,
            type=p.type.value,
            amount_minor=p.amount_minor,
            currency=p.currency,
            source_wallet_id=p.source_wallet_id,
            destination_wallet_id=p.destination_wallet_id,
            original_payment_id=p.original_payment_id,
            external_reference=p.external_reference,
            next_attempt_at=next_attempt_at,
            **_columns(p),
        )
    )
    await connection.execute(transitions.insert().values(payment_id=p.id, from_status=None, to_status=p.status.value))


async def get(connection: AsyncConnection, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None:
    statement = select(payments).where(payments.c.id == payment_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).first()
    return _payment(row) if row else None


async def save(connection: AsyncConnection, before: Payment, after: Payment, next_attempt_at: datetime | None) -> None:
    if after == before:
        return
    result = await connection.execute(
        update(payments)
        .where(payments.c.id == after.id, payments.c.version == before.version)
        .values(next_attempt_at=next_attempt_at, updated_at=func.now(), **_columns(after))
    )
    if result.rowcount != 1:
        raise RuntimeError(f"payment {after.id} changed concurrently (expected v{before.version})")
    if after.status is not before.status:
        await connection.execute(
            transitions.insert().values(
                payment_id=after.id,
                from_status=before.status.value,
                to_status=after.status.value,
                reason=after.failure_reason if after.failure_reason != before.failure_reason else None,
            )
        )


async def due(connection: AsyncConnection, now: datetime, limit: int) -> list[Payment]:
    """Payments whose step timed out, locked; other replicas skip them."""
    statement = (
        select(payments)
        .where(payments.c.next_attempt_at <= now)
        .order_by(payments.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_payment(row) for row in await connection.execute(statement)]


async def refunded_minor(connection: AsyncConnection, original_id: uuid.UUID) -> int:
    """Refunds that completed or may still complete count against the original."""
    total = await connection.scalar(
        select(func.coalesce(func.sum(payments.c.amount_minor), 0)).where(
            payments.c.original_payment_id == original_id,
            payments.c.status.in_(_ACTIVE_REFUND_STATUSES),
        )
    )
    return int(total or 0)


async def history(connection: AsyncConnection, payment_id: uuid.UUID) -> list[Row]:
    return list(
        await connection.execute(
            select(transitions).where(transitions.c.payment_id == payment_id).order_by(transitions.c.id)
        )
    )


async def created_at(connection: AsyncConnection, payment_id: uuid.UUID) -> tuple[datetime, datetime] | None:
    row = (
        await connection.execute(
            select(payments.c.created_at, payments.c.updated_at).where(payments.c.id == payment_id)
        )
    ).first()
    return (row.created_at, row.updated_at) if row else None


async def list_for_wallet(
    connection: AsyncConnection, wallet_id: uuid.UUID, *, limit: int, before: datetime | None
) -> list[Payment]:
    statement = (
        select(payments)
        .where((payments.c.source_wallet_id == wallet_id) | (payments.c.destination_wallet_id == wallet_id))
        .order_by(payments.c.created_at.desc(), payments.c.id)
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(payments.c.created_at < before)
    return [_payment(row) for row in await connection.execute(statement)]


def backoff(step_timeout_s: float, attempts: int, step_timeout_max_s: float) -> timedelta:
    return timedelta(seconds=min(step_timeout_s * (2**attempts), step_timeout_max_s))
