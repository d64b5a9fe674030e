"""Fan-out of payment outcomes into notifications, and their delivery with non-blocking retries.

Fan-out runs in the inbox transaction: notifications and their delivery tasks commit together.
Delivery is not deduplicated by message id (a replayed dead letter keeps its id and must run);
instead the notification row says whether it was delivered, so a delivered notification is
never sent again, whichever topic or replay brings its task back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.processing import BatchHandling
from ledgerline.core.retry import RetryPolicy, RetryRouter, attempts_so_far, wait_until_due
from ledgerline.core.telemetry import continue_trace
from ledgerline.notification import domain, repository
from ledgerline.notification.channels import AttemptResult, EmailSender, WebhookSender
from ledgerline.notification.domain import Channel, DeliveryStatus

SOURCE = "/ledgerline/notification"
_log = logging.getLogger(__name__)
DELIVERIES = Counter("ledgerline_notification_deliveries_total", "Delivery attempts", ["channel", "outcome"])
DELIVERY_OUTCOMES = ("delivered", "failed")
for _channel in Channel:
    for _outcome in DELIVERY_OUTCOMES:
        DELIVERIES.labels(_channel.value, _outcome)


async def fan_out_outcomes(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
    """Every payment outcome of a consumed batch: one read of the subscriptions of all the
    wallets involved and one insert of the notifications, whatever the batch size."""
    outcomes = [(envelope, c.PaymentOutcome.model_validate(envelope.data)) for envelope in envelopes]
    wallets = {w for _, o in outcomes for w in (o.source_wallet_id, o.destination_wallet_id) if w is not None}
    by_wallet: dict[uuid.UUID, list[domain.Subscription]] = {}
    for subscription in await repository.subscriptions_for(uow.connection, sorted(wallets)):
        by_wallet.setdefault(subscription.wallet_id, []).append(subscription)
    found = []
    for envelope, outcome in outcomes:
        involved = {w for w in (outcome.source_wallet_id, outcome.destination_wallet_id) if w is not None}
        found += domain.notifications_for(
            event_id=envelope.id,
            event_type=envelope.type,
            occurred_at=envelope.time,
            outcome=outcome,
            subscriptions=[s for w in sorted(involved) for s in by_wallet.get(w, [])],
        )
    # Each task is keyed by its notification and carries the trace of the outcome it tells.
    trace_of_event = {envelope.id: envelope.traceparent for envelope in envelopes}
    for notification in await repository.add_notifications(uow.connection, found):
        task = c.DeliveryTask(notification_id=notification.id)
        uow.publish(
            c.message(
                c.NOTIFICATION_DELIVERY,
                task,
                key=str(notification.id),
                source=SOURCE,
                traceparent=trace_of_event.get(notification.event_id),
            )
        )


FAN_OUT = BatchHandling(frozenset({c.PAYMENT_COMPLETED, c.PAYMENT_FAILED}), fan_out_outcomes)


class DeliveryWorker:
    """Delivers the tasks of one topic (the main one or a retry step), concurrently."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        policy: RetryPolicy,
        webhooks: WebhookSender,
        email: EmailSender,
        concurrency_max: int,
        waits_for_due_time: bool,
        group: str,
    ) -> None:
        self._engine = engine
        self._router = RetryRouter(producer, policy, group=group)
        self._retries = len(policy.delays_s)
        self._senders: dict[Channel, WebhookSender | EmailSender] = {Channel.WEBHOOK: webhooks, Channel.EMAIL: email}
        self._limit = asyncio.Semaphore(concurrency_max)
        self._waits = waits_for_due_time

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        tasks = [e for e in envelopes if e.type == c.NOTIFICATION_DELIVERY]
        if self._waits:
            await wait_until_due(tasks)
        await asyncio.gather(*(self._deliver_in_trace(e) for e in tasks))

    async def _deliver_in_trace(self, envelope: Envelope) -> None:
        # The webhook call joins the payment's trace (and sends it on in `traceparent`).
        with continue_trace(f"deliver {envelope.type}", envelope.traceparent):
            await self._deliver(envelope)

    async def _deliver(self, envelope: Envelope) -> None:
        task = c.DeliveryTask.model_validate(envelope.data)
        async with self._limit:
            async with self._engine.connect() as connection:
                notification = await repository.get_notification(connection, task.notification_id)
                subscription = (
                    await repository.get_subscription(connection, notification.subscription_id)
                    if notification
                    else None
                )
            if notification is None or subscription is None:
                _log.warning("delivery task for unknown notification %s", task.notification_id)
                return
            if notification.status is DeliveryStatus.DELIVERED:
                return  # At most once per event and subscription.
            result = await self._senders[notification.channel].send(notification, subscription)
        DELIVERIES.labels(notification.channel.value, DELIVERY_OUTCOMES[0 if result.succeeded else 1]).inc()
        retries_left = attempts_so_far(envelope) < self._retries
        status = domain.after_attempt(result.succeeded, retries_left)
        await self._record(notification.id, result, status)
        if not result.succeeded:
            target = await self._router.fail(envelope, result.error or "delivery failed")
            _log.info("notification %s failed (%s); moved to %s", notification.id, result.error, target)

    async def _record(self, notification_id: uuid.UUID, result: AttemptResult, status: DeliveryStatus) -> None:
        async with UnitOfWork(self._engine) as uow:
            current = await repository.get_notification(uow.connection, notification_id, for_update=True)
            if current is None or current.status is DeliveryStatus.DELIVERED:
                return
            await repository.record_attempt(uow.connection, current, result, status)
            await uow.commit()
