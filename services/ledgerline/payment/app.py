"""Payment service: the saga orchestrator for transfers, deposits, withdrawals and refunds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI

from ledgerline.core import contracts as c
from ledgerline.core import topics
from ledgerline.core.idempotency import IdempotencyStore
from ledgerline.core.processing import BatchHandling
from ledgerline.core.runtime import ServiceRuntime, Subscription, build_service_app
from ledgerline.payment import api, api_problems, repository, reward_payments, saga, wallets
from ledgerline.payment.bank import BankClient, BankStep
from ledgerline.payment.intake import PaymentIntake
from ledgerline.payment.settings import PaymentSettings
from ledgerline.payment.tables import idempotency_keys
from ledgerline.payment.wallets import WalletDirectory

_log = logging.getLogger(__name__)


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    settings = settings or PaymentSettings()
    runtime = ServiceRuntime("payment", settings)
    clock = saga.StepClock(settings)

    def bank_step(runtime: ServiceRuntime, group: str) -> Callable[..., Awaitable[None]]:
        client = runtime.peer_client(settings.bank_url, timeout_s=settings.bank_timeout_s)
        runtime.extras["bank_http"] = client
        bank = BankClient(client, settings)
        step = BankStep(consumer=group, bank=bank, make_uow=runtime.uow, settings=settings, clock=clock)
        return step.handle_batch

    def workers(runtime: ServiceRuntime) -> Sequence[Callable[[], Awaitable[None]]]:
        wallet_client = runtime.peer_client(settings.wallet_url)
        runtime.extras["wallets"] = WalletDirectory(wallet_client, runtime.engine)
        store = IdempotencyStore(
            redis=runtime.redis, engine=runtime.engine, table=idempotency_keys, namespace="payment"
        )
        runtime.extras["idempotency"] = store
        intake = PaymentIntake(make_uow=runtime.uow, store=store, settings=settings, clock=clock)
        runtime.extras["intake"] = intake

        async def saga_timer() -> None:
            while True:
                handled = await saga.run_due_steps(runtime.uow, settings, clock)
                async with runtime.engine.connect() as connection:
                    intake.active_payments = await repository.active_count(connection, settings.active_payments_max + 1)
                if handled < settings.saga_scan_batch_size_max:
                    await asyncio.sleep(settings.saga_scan_interval_s)

        return [saga_timer]

    return build_service_app(
        runtime=runtime,
        title="Ledgerline payment service",
        description="Transfers, deposits, withdrawals, refunds and rewards, each run as a saga.",
        routers=[api.router, reward_payments.router],
        subscriptions=[
            Subscription(
                topics=[topics.WALLET_EVENTS, topics.LEDGER_EVENTS],
                batch=BatchHandling.together(
                    BatchHandling(frozenset({c.WALLET_OPENED}), wallets.remember_opened), saga.reply_handling(clock)
                ),
            ),
            Subscription(topics=[topics.PAYMENT_COMMANDS], group_suffix="-bank", make_batch_handler=bank_step),
        ],
        workers=workers,
        problem_rules=api_problems.RULES,
    )
