"""Payments, their transitions and due saga steps in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select, text, tuple_, union_all, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerline.core.db import one_of, write_every_row
from ledgerline.payment.domain import Payment, PaymentType, Status
from ledgerline.payment.ports import PaymentLookup
from ledgerline.payment.tables import payments, transitions

_ACTIVE_REFUND_STATUSES = [s.value for s in Status if s not in (Status.FAILED, Status.COMPENSATED)]


def _payment(row: Row[Any]) -> Payment:
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
        destination_amount_minor=row.destination_amount_minor,
        destination_currency=row.destination_currency,
        quote_id=row.quote_id,
        group_id=row.group_id,
    )


def _columns(p: Payment) -> dict[str, object]:
    return {
        "status": p.status.value,
        "failure_reason": p.failure_reason,
        "attempts": p.attempts,
        "version": p.version,
    }


@dataclass(frozen=True, slots=True)
class Change:
    """A payment moved by one step of its saga (`before` as locked, `after` to write)."""

    before: Payment
    after: Payment
    next_attempt_at: datetime | None


async def add(connection: AsyncConnection, p: Payment, next_attempt_at: datetime | None) -> None:
    await add_many(connection, [(p, next_attempt_at)])


async def add_many(connection: AsyncConnection, started: Sequence[tuple[Payment, datetime | None]]) -> None:
    """New payments and their first transition, two statements whatever the count."""
    if not started:
        return
    rows = [
        {
            "id": p.id,
            "type": p.type.value,
            "amount_minor": p.amount_minor,
            "currency": p.currency,
            "source_wallet_id": p.source_wallet_id,
            "destination_wallet_id": p.destination_wallet_id,
            "original_payment_id": p.original_payment_id,
            "external_reference": p.external_reference,
            "destination_amount_minor": p.destination_amount_minor,
            "destination_currency": p.destination_currency,
            "quote_id": p.quote_id,
            "next_attempt_at": next_attempt_at,
            "group_id": p.group_id,
            **_columns(p),
        }
        for p, next_attempt_at in started
    ]
    await connection.execute(payments.insert(), rows)
    first = [{"payment_id": p.id, "from_status": None, "to_status": p.status.value, "reason": None} for p, _ in started]
    await connection.execute(transitions.insert(), first)


async def get(connection: AsyncConnection, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None:
    statement = select(payments).where(payments.c.id == payment_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).first()
    return _payment(row) if row else None


class SqlPaymentLookup(PaymentLookup):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, payment_id: uuid.UUID) -> Payment | None:
        async with self._engine.connect() as connection:
            return await get(connection, payment_id)


async def save(connection: AsyncConnection, before: Payment, after: Payment, next_attempt_at: datetime | None) -> None:
    await save_many(connection, [Change(before, after, next_attempt_at)], [(before, after)])


# One statement for any number of payments; the version check catches a change made without
# the row lock, and the count of rows returned proves every payment was written.
_SAVE_MANY = text(
    """
    UPDATE payments AS p
    SET status = u.status, failure_reason = u.failure_reason, attempts = u.attempts, version = u.version,
        next_attempt_at = u.next_attempt_at, updated_at = now()
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:expected AS integer[]), CAST(:statuses AS text[]),
        CAST(:reasons AS text[]), CAST(:attempts AS integer[]), CAST(:versions AS integer[]),
        CAST(:next_attempts AS timestamptz[])
    ) AS u(id, expected, status, failure_reason, attempts, version, next_attempt_at)
    WHERE p.id = u.id AND p.version = u.expected
    RETURNING p.id
    """
)


async def save_many(
    connection: AsyncConnection, changes: Sequence[Change], moves: Sequence[tuple[Payment, Payment]]
) -> None:
    """Write each payment's final state once, and every status move (in order) to its history.

    `changes` has one entry per payment (its state as locked and as it ends the batch);
    `moves` lists each step that changed a status, several per payment if a batch held several.
    """
    written = [c for c in changes if c.after != c.before]
    if written:
        await write_every_row(
            connection,
            _SAVE_MANY,
            {
                "ids": [c.after.id for c in written],
                "expected": [c.before.version for c in written],
                "statuses": [c.after.status.value for c in written],
                "reasons": [c.after.failure_reason for c in written],
                "attempts": [c.after.attempts for c in written],
                "versions": [c.after.version for c in written],
                "next_attempts": [c.next_attempt_at for c in written],
            },
            rows=len(written),
            what="payments",
        )
    history = [
        {
            "payment_id": after.id,
            "from_status": before.status.value,
            "to_status": after.status.value,
            "reason": after.failure_reason if after.failure_reason != before.failure_reason else None,
        }
        for before, after in moves
        if after.status is not before.status
    ]
    if history:
        await connection.execute(transitions.insert(), history)


@dataclass(frozen=True, slots=True)
class Locked:
    """Payments locked for a batch of steps, with when each was created and last changed (when
    its current step's command went out)."""

    payments: dict[uuid.UUID, Payment]
    created_at: dict[uuid.UUID, datetime]
    changed_at: dict[uuid.UUID, datetime]


async def lock_many(connection: AsyncConnection, payment_ids: Sequence[uuid.UUID]) -> Locked:
    """Lock the payments in id order, so concurrent batches cannot deadlock on them."""
    statement = (
        select(payments).where(one_of(payments.c.id, set(payment_ids))).order_by(payments.c.id).with_for_update()
    )
    rows = list(await connection.execute(statement))
    return Locked(
        {row.id: _payment(row) for row in rows},
        {row.id: row.created_at for row in rows},
        {row.id: row.updated_at for row in rows},
    )


async def group_members(connection: AsyncConnection, group_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Payment]]:
    """The payments of each atomic batch, in id order."""
    statement = select(payments).where(one_of(payments.c.group_id, group_ids)).order_by(payments.c.id)
    found: dict[uuid.UUID, list[Payment]] = {}
    for row in await connection.execute(statement):
        found.setdefault(row.group_id, []).append(_payment(row))
    return found


async def remember_traces(connection: AsyncConnection, traces: Mapping[uuid.UUID, str]) -> None:
    """Store each payment's trace unless it has one: the first trace a payment is seen in is
    the one it was accepted in."""
    if not traces:
        return
    statement = (
        update(payments)
        .where(payments.c.id == bindparam("payment_id"), payments.c.traceparent.is_(None))
        .values(traceparent=bindparam("trace"))
    )
    rows = [{"payment_id": payment_id, "trace": trace} for payment_id, trace in sorted(traces.items())]
    await connection.execute(statement, rows)


async def traces(connection: AsyncConnection, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    statement = select(payments.c.id, payments.c.traceparent).where(
        one_of(payments.c.id, set(payment_ids)), payments.c.traceparent.is_not(None)
    )
    return {row.id: row.traceparent for row in await connection.execute(statement)}


async def active_count(connection: AsyncConnection, limit: int) -> int:
    """Payments whose saga is still running, counted up to `limit` (the index of due steps)."""
    active = select(payments.c.id).where(payments.c.next_attempt_at.is_not(None)).limit(limit).subquery()
    return int(await connection.scalar(select(func.count()).select_from(active)) or 0)


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


async def refunded_minor(
    connection: AsyncConnection, original_id: uuid.UUID, type_: PaymentType = PaymentType.REFUND
) -> int:
    """Refunds (or clawbacks of a reward) that completed or may still complete count against the original."""
    total = await connection.scalar(
        select(func.coalesce(func.sum(payments.c.amount_minor), 0)).where(
            payments.c.original_payment_id == original_id,
            payments.c.type == type_.value,
            payments.c.status.in_(_ACTIVE_REFUND_STATUSES),
        )
    )
    return int(total or 0)


async def history(connection: AsyncConnection, payment_id: uuid.UUID) -> list[Row[Any]]:
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


@dataclass(frozen=True, slots=True)
class PaymentQuery:
    """Which payments a history page lists; every field narrows it."""

    wallet_id: uuid.UUID | None = None  # As source or destination.
    type: PaymentType | None = None
    status: Status | None = None
    created_from: datetime | None = None  # Inclusive.
    created_to: datetime | None = None  # Exclusive.


@dataclass(frozen=True, slots=True)
class Listed:
    payment: Payment
    created_at: datetime
    updated_at: datetime


async def list_payments(
    connection: AsyncConnection, query: PaymentQuery, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Listed]:
    """Newest first, ordered by (created_at, id) so that pages never skip or repeat a payment;
    `before` is the keyset cursor (the last payment of the previous page).

    A wallet's payments are read from the source and the destination index separately, each
    already in order and cut at `limit`, then merged: no sort of a wallet's whole history.
    """

    def narrowed(*conditions: ColumnElement[bool]) -> Select[Any]:
        statement = select(payments).where(*conditions)
        if query.type is not None:
            statement = statement.where(payments.c.type == query.type.value)
        if query.status is not None:
            statement = statement.where(payments.c.status == query.status.value)
        if query.created_from is not None:
            statement = statement.where(payments.c.created_at >= query.created_from)
        if query.created_to is not None:
            statement = statement.where(payments.c.created_at < query.created_to)
        if before is not None:
            statement = statement.where(tuple_(payments.c.created_at, payments.c.id) < tuple_(*before))
        return statement.order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit)

    if query.wallet_id is None:
        statement = narrowed()
    else:
        sides = union_all(
            narrowed(payments.c.source_wallet_id == query.wallet_id),
            narrowed(payments.c.destination_wallet_id == query.wallet_id),
        ).subquery()
        statement = select(sides).order_by(sides.c.created_at.desc(), sides.c.id.desc()).limit(limit)
    return [Listed(_payment(row), row.created_at, row.updated_at) for row in await connection.execute(statement)]


async def refunds_of(connection: AsyncConnection, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The refunds of each payment, oldest first (payments without refunds are left out)."""
    statement = (
        select(payments.c.original_payment_id, payments.c.id)
        .where(one_of(payments.c.original_payment_id, set(payment_ids)), payments.c.type == PaymentType.REFUND.value)
        .order_by(payments.c.created_at, payments.c.id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in await connection.execute(statement):
        found.setdefault(row.original_payment_id, []).append(row.id)
    return found


def backoff(step_timeout_s: float, attempts: int, step_timeout_max_s: float) -> timedelta:
    return timedelta(seconds=min(step_timeout_s * (2**attempts), step_timeout_max_s))
