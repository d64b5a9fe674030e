"""Payment service: the saga orchestrator for transfers, deposits, withdrawals and refunds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import httpx
from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.idempotency import IdempotencyStore
from ledgerline.core.runtime import ServiceRuntime, Subscription, build_service_app
from ledgerline.payment import api, saga
from ledgerline.payment.bank import BankClient, BankStep
from ledgerline.payment.settings import PaymentSettings
from ledgerline.payment.tables import idempotency_keys
from ledgerline.payment.wallets import WalletDirectory

_log = logging.getLogger(__name__)


def _bank_step(runtime: ServiceRuntime, group: str) -> Callable[..., Awaitable[None]]:
    settings: PaymentSettings = runtime.settings  # type: ignore[assignment]
    client = httpx.AsyncClient(base_url=settings.bank_url, timeout=settings.bank_timeout_s)
    runtime.extras["bank_http"] = client
    step = BankStep(consumer=group, bank=BankClient(client, settings), make_uow=runtime.uow, settings=settings)
    return step.handle_batch


def _workers(runtime: ServiceRuntime) -> Sequence[Callable[[], Awaitable[None]]]:
    settings: PaymentSettings = runtime.settings  # type: ignore[assignment]
    wallet_client = httpx.AsyncClient(base_url=settings.wallet_url, timeout=settings.http_timeout_s)
    runtime.extras["wallets"] = WalletDirectory(wallet_client)
    runtime.extras["idempotency"] = IdempotencyStore(
        redis=runtime.redis, engine=runtime.engine, table=idempotency_keys, namespace="payment"
    )

    async def saga_timer() -> None:
        while True:
            handled = await saga.run_due_steps(runtime.uow, settings)
            if handled < settings.saga_scan_batch_size_max:
                await asyncio.sleep(settings.saga_scan_interval_s)

    return [saga_timer]


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    settings = settings or PaymentSettings()
    runtime = ServiceRuntime("payment", settings)
    return build_service_app(
        runtime=runtime,
        title="Ledgerline payment service",
        description="Transfers, deposits, withdrawals and refunds, each run as a saga.",
        routers=[api.router],
        subscriptions=[
            Subscription(topics=[topics.WALLET_EVENTS, topics.LEDGER_EVENTS], handlers=saga.reply_handlers(settings)),
            Subscription(topics=[topics.PAYMENT_COMMANDS], group_suffix="-bank", make_batch_handler=_bank_step),
        ],
        workers=_workers,
    )
