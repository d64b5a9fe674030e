"""Subscriptions, notifications and delivery attempts in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.notification.channels import AttemptResult
from ledgerline.notification.domain import Channel, DeliveryStatus, Notification, Subscription
from ledgerline.notification.tables import delivery_attempts, notifications, subscriptions


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(row.id, row.wallet_id, Channel(row.channel), row.target, row.secret)


def _notification(row: Row[Any]) -> Notification:
    return Notification(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        payment_id=row.payment_id,
        wallet_id=row.wallet_id,
        subscription_id=row.subscription_id,
        channel=Channel(row.channel),
        payload=row.payload,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
    )


async def add_subscription(connection: AsyncConnection, subscription: Subscription) -> None:
    await connection.execute(
        subscriptions.insert().values(
            id=subscription.id,
            wallet_id=subscription.wallet_id,
            channel=subscription.channel.value,
            target=subscription.target,
            secret=subscription.secret,
        )
    )


async def count_subscriptions(connection: AsyncConnection, wallet_id: uuid.UUID) -> int:
    return int(
        await connection.scalar(
            select(func.count()).select_from(subscriptions).where(subscriptions.c.wallet_id == wallet_id)
        )
        or 0
    )


async def subscriptions_for(connection: AsyncConnection, wallet_ids: Sequence[uuid.UUID]) -> list[Subscription]:
    rows = await connection.execute(
        select(subscriptions).where(subscriptions.c.wallet_id.in_(wallet_ids)).order_by(subscriptions.c.created_at)
    )
    return [_subscription(row) for row in rows]


async def get_subscription(connection: AsyncConnection, subscription_id: uuid.UUID) -> Subscription | None:
    row = (await connection.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
    return _subscription(row) if row else None


async def add_notifications(connection: AsyncConnection, found: Sequence[Notification]) -> list[Notification]:
    """Insert what is new; returns only the notifications this call created."""
    if not found:
        return []
    rows = [
        {
            "id": n.id,
            "event_id": n.event_id,
            "event_type": n.event_type,
            "payment_id": n.payment_id,
            "wallet_id": n.wallet_id,
            "subscription_id": n.subscription_id,
            "channel": n.channel.value,
            "payload": dict(n.payload),
            "status": n.status.value,
        }
        for n in found
    ]
    created = set(
        (
            await connection.execute(
                insert(notifications).values(rows).on_conflict_do_nothing().returning(notifications.c.id)
            )
        ).scalars()
    )
    return [n for n in found if n.id in created]


async def get_notification(
    connection: AsyncConnection, notification_id: uuid.UUID, *, for_update: bool = False
) -> Notification | None:
    statement = select(notifications).where(notifications.c.id == notification_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).first()
    return _notification(row) if row else None


async def record_attempt(
    connection: AsyncConnection, notification: Notification, result: AttemptResult, status: DeliveryStatus
) -> None:
    attempt = notification.attempts + 1
    await connection.execute(
        delivery_attempts.insert().values(
            notification_id=notification.id,
            attempt=attempt,
            succeeded=result.succeeded,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    )
    await connection.execute(
        update(notifications)
        .where(notifications.c.id == notification.id)
        .values(
            attempts=attempt,
            status=status.value,
            delivered_at=func.now() if status is DeliveryStatus.DELIVERED else None,
        )
    )


async def list_for_wallet(
    connection: AsyncConnection, wallet_id: uuid.UUID, *, limit: int
) -> list[tuple[Notification, list[Row[Any]]]]:
    rows = await connection.execute(
        select(notifications)
        .where(notifications.c.wallet_id == wallet_id)
        .order_by(notifications.c.created_at.desc())
        .limit(limit)
    )
    found = [_notification(row) for row in rows]
    attempts: dict[uuid.UUID, list[Row[Any]]] = {n.id: [] for n in found}
    if found:
        for row in await connection.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.notification_id.in_(list(attempts)))
            .order_by(delivery_attempts.c.attempt)
        ):
            attempts[row.notification_id].append(row)
    return [(n, attempts[n.id]) for n in found]


async def attempts_of(connection: AsyncConnection, notification_id: uuid.UUID) -> list[Row[Any]]:
    return list(
        await connection.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.notification_id == notification_id)
            .order_by(delivery_attempts.c.attempt)
        )
    )
