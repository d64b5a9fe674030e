"""Payment service: the saga orchestrator for transfers, deposits, withdrawals and refunds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from ledgerline.core import contracts as c
from ledgerline.core import topics
from ledgerline.core.kafka import BatchHandler
from ledgerline.core.processing import BatchHandling
from ledgerline.core.retention import Retained
from ledgerline.core.runtime import ServiceRuntime, Subscription, Worker, build_service_app
from ledgerline.payment import (
    api,
    api_problems,
    fx_api,
    group_replies,
    rate_feed,
    repository,
    reward_payments,
    saga,
    wallets,
)
from ledgerline.payment.bank import BankStep
from ledgerline.payment.settings import PaymentSettings
from ledgerline.payment.wiring import PaymentCollaborators, bootstrap


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    settings = settings or PaymentSettings()
    return build_service_app(
        runtime=ServiceRuntime("payment", settings),
        bootstrap=bootstrap,
        title="Ledgerline payment service",
        description=(
            "Transfers (in one currency, or across two at a quoted rate), deposits, withdrawals, refunds"
            " and rewards, each run as a saga."
        ),
        routers=[api.router, reward_payments.router, fx_api.router],
        subscriptions=_subscriptions,
        workers=_workers,
        problem_rules=api_problems.RULES,
        idempotency_records=True,
        retained=retained_tables(settings),
    )


def retained_tables(settings: PaymentSettings) -> list[Retained]:
    """The payment service's own tables that retention prunes (besides inbox and idempotency)."""
    # A quote is needed until it expires; past that only as the record of a used one.
    return [Retained("fx_quotes", "expires_at", timedelta(seconds=settings.fx_quote_retention_s))]


def _subscriptions(payment: PaymentCollaborators) -> Sequence[Subscription]:
    return [
        Subscription(
            topics=[topics.WALLET_EVENTS, topics.LEDGER_EVENTS],
            batch=BatchHandling.together(
                BatchHandling(frozenset({c.WALLET_OPENED}), wallets.remember_opened),
                saga.reply_handling(payment.clock),
                group_replies.group_reply_handling(payment.clock),
            ),
        ),
        Subscription(topics=[topics.PAYMENT_COMMANDS], group_suffix="-bank", make_batch_handler=_bank_step(payment)),
    ]


def _bank_step(payment: PaymentCollaborators) -> Callable[[str], BatchHandler]:
    def make(group: str) -> BatchHandler:
        step = BankStep(
            consumer=group, bank=payment.bank, make_uow=payment.make_uow, settings=payment.settings, clock=payment.clock
        )
        return step.handle_batch

    return make


def _workers(payment: PaymentCollaborators) -> Sequence[Worker]:
    settings, intake = payment.settings, payment.intake

    async def saga_timer() -> None:
        while True:
            handled = await saga.run_due_steps(payment.make_uow, settings, payment.clock)
            async with payment.engine.connect() as connection:
                intake.active_payments = await repository.active_count(connection, settings.active_payments_max + 1)
            if handled < settings.saga_scan_batch_size_max:
                await asyncio.sleep(settings.saga_scan_interval_s)

    if not settings.fx_rate_feed_enabled:
        return [saga_timer]
    return [saga_timer, partial(rate_feed.run, payment.bank_http, payment.make_uow, settings)]
