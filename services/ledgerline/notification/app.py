"""Notification service: tells both parties of a payment, by webhook and email, with retries."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.kafka import BatchHandler
from ledgerline.core.retry import RetryPolicy
from ledgerline.core.runtime import ServiceRuntime, Subscription, build_service_app
from ledgerline.notification import api
from ledgerline.notification.channels import EmailSender, WebhookSender
from ledgerline.notification.delivery import FAN_OUT, DeliveryWorker
from ledgerline.notification.settings import NotificationSettings
from ledgerline.notification.wiring import NotificationCollaborators, bootstrap


def _delivery(step: int, service: NotificationCollaborators) -> Callable[[str], BatchHandler]:
    """Batch handler factory for the main deliveries topic (step 0) or retry step `step`."""
    settings = service.settings

    def make(group: str) -> BatchHandler:
        worker = DeliveryWorker(
            engine=service.engine,
            producer=service.producer,
            policy=RetryPolicy(topics.NOTIFICATION_DELIVERIES, settings.retry_delays_s),
            webhooks=WebhookSender(service.webhook_http, settings),
            email=EmailSender(settings),
            concurrency_max=settings.delivery_concurrency_max,
            waits_for_due_time=step > 0,
            group=group,
        )
        return worker.handle_batch

    return make


# Retry topics hold each delivery for seconds at least; polling them often buys nothing.
RETRY_FETCH_MAX_WAIT_MS = 500


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    runtime = ServiceRuntime("notification", settings or NotificationSettings())
    return build_service_app(
        runtime=runtime,
        bootstrap=bootstrap,
        title="Ledgerline notification service",
        description="Webhooks (Standard Webhooks signatures) and email for payment outcomes, with a delivery log.",
        routers=[api.router],
        subscriptions=_subscriptions,
    )


def _subscriptions(service: NotificationCollaborators) -> Sequence[Subscription]:
    policy = RetryPolicy(topics.NOTIFICATION_DELIVERIES, service.settings.retry_delays_s)
    deliveries = [
        Subscription(
            topics=[topics.NOTIFICATION_DELIVERIES],
            group_suffix="-deliveries",
            make_batch_handler=_delivery(0, service),
        )
    ]
    deliveries += [
        Subscription(
            topics=[topic],
            group_suffix=f"-retry-{step}",
            fetch_max_wait_ms=RETRY_FETCH_MAX_WAIT_MS,
            make_batch_handler=_delivery(step, service),
        )
        for step, topic in enumerate(policy.retry_topics, start=1)
    ]
    return [Subscription(topics=[topics.PAYMENT_EVENTS], batch=FAN_OUT), *deliveries]
