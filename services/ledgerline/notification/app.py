"""Notification service: tells both parties of a payment, by webhook and email, with retries."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.kafka import BatchHandler
from ledgerline.core.retry import RetryPolicy
from ledgerline.core.runtime import ServiceRuntime, Subscription, build_service_app
from ledgerline.notification import api
from ledgerline.notification.channels import EmailSender, WebhookSender
from ledgerline.notification.delivery import FAN_OUT, DeliveryWorker
from ledgerline.notification.settings import NotificationSettings


def _delivery(step: int, settings: NotificationSettings) -> Callable[[ServiceRuntime, str], BatchHandler]:
    """Batch handler factory for the main deliveries topic (step 0) or retry step `step`."""

    def make(runtime: ServiceRuntime, group: str) -> BatchHandler:
        client = runtime.extras.get("webhook_http")
        if client is None:
            client = runtime.extras["webhook_http"] = httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        worker = DeliveryWorker(
            engine=runtime.engine,
            producer=runtime.producer,
            policy=RetryPolicy(topics.NOTIFICATION_DELIVERIES, settings.retry_delays_s),
            webhooks=WebhookSender(client, settings),
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
    settings = settings or NotificationSettings()
    runtime = ServiceRuntime("notification", settings)
    policy = RetryPolicy(topics.NOTIFICATION_DELIVERIES, settings.retry_delays_s)
    deliveries = [
        Subscription(
            topics=[topics.NOTIFICATION_DELIVERIES],
            group_suffix="-deliveries",
            make_batch_handler=_delivery(0, settings),
        )
    ]
    deliveries += [
        Subscription(
            topics=[topic],
            group_suffix=f"-retry-{step}",
            fetch_max_wait_ms=RETRY_FETCH_MAX_WAIT_MS,
            make_batch_handler=_delivery(step, settings),
        )
        for step, topic in enumerate(policy.retry_topics, start=1)
    ]
    return build_service_app(
        runtime=runtime,
        title="Ledgerline notification service",
        description="Webhooks (Standard Webhooks signatures) and email for payment outcomes, with a delivery log.",
        routers=[api.router],
        subscriptions=[Subscription(topics=[topics.PAYMENT_EVENTS], batch=FAN_OUT), *deliveries],
    )
