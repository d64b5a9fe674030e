"""Who is told what about a payment. Plain values, no I/O.

Both parties of a payment are notified: the payer (source wallet) and the payee (destination
wallet), once per subscription. A notification's id is derived from the event and the
subscription, so the same event can never make two notifications for one subscription.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ledgerline.core.contracts import PAYMENT_COMPLETED, PaymentOutcome
from ledgerline.core.money import format_amount


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Subscription:
    id: uuid.UUID
    wallet_id: uuid.UUID
    channel: Channel
    target: str
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: uuid.UUID
    event_id: str
    event_type: str
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    subscription_id: uuid.UUID
    channel: Channel
    payload: Mapping[str, Any]
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0


def event_name(event_type: str) -> str:
    return "payment.completed" if event_type == PAYMENT_COMPLETED else "payment.failed"


def notifications_for(
    *,
    event_id: str,
    event_type: str,
    occurred_at: datetime | None,
    outcome: PaymentOutcome,
    subscriptions: Iterable[Subscription],
) -> list[Notification]:
    roles = {outcome.source_wallet_id: "payer", outcome.destination_wallet_id: "payee"}
    found = []
    for subscription in subscriptions:
        role = roles.get(subscription.wallet_id)
        if role is None:
            continue
        counterparty = outcome.destination_wallet_id if role == "payer" else outcome.source_wallet_id
        payload = {
            "id": str(uuid.uuid5(subscription.id, event_id)),
            "type": event_name(event_type),
            "occurred_at": occurred_at.isoformat() if occurred_at else None,
            "data": {
                "payment_id": str(outcome.payment_id),
                "payment_type": outcome.payment_type,
                "status": outcome.status,
                "amount": format_amount(outcome.amount_minor, outcome.currency),
                "currency": outcome.currency,
                "role": role,
                "wallet_id": str(subscription.wallet_id),
                "counterparty_wallet_id": str(counterparty) if counterparty else None,
                "reason": outcome.reason,
            },
        }
        found.append(
            Notification(
                id=uuid.uuid5(subscription.id, event_id),
                event_id=event_id,
                event_type=event_type,
                payment_id=outcome.payment_id,
                wallet_id=subscription.wallet_id,
                subscription_id=subscription.id,
                channel=subscription.channel,
                payload=payload,
            )
        )
    return found


def after_attempt(succeeded: bool, retries_left: bool) -> DeliveryStatus:
    if succeeded:
        return DeliveryStatus.DELIVERED
    return DeliveryStatus.RETRYING if retries_left else DeliveryStatus.DEAD
