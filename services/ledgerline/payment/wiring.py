"""The payment service's collaborators, made once at startup, and their route dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import UnitOfWork
from ledgerline.core.http import collaborators_of
from ledgerline.core.idempotency import IdempotencyStore
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.payment.bank import BankClient
from ledgerline.payment.intake import PaymentIntake
from ledgerline.payment.ports import PaymentLookup
from ledgerline.payment.repository import SqlPaymentLookup
from ledgerline.payment.saga import StepClock
from ledgerline.payment.settings import PaymentSettings
from ledgerline.payment.tables import idempotency_keys
from ledgerline.payment.traces import TraceKeepingUnitOfWork
from ledgerline.payment.wallets import WalletDirectory


@dataclass(frozen=True, slots=True)
class PaymentCollaborators:
    settings: PaymentSettings
    engine: AsyncEngine
    make_uow: Callable[[], UnitOfWork]
    # Shared by the intake, the bank step and the saga timer: it learns how long steps take.
    clock: StepClock
    wallets: WalletDirectory
    idempotency: IdempotencyStore
    intake: PaymentIntake
    bank: BankClient
    payments: PaymentLookup
    # The bank's API with this service's token, for its rate feed.
    bank_http: httpx.AsyncClient


async def bootstrap(runtime: ServiceRuntime[PaymentSettings]) -> PaymentCollaborators:
    settings = runtime.settings
    clock = StepClock(settings)
    store = IdempotencyStore(redis=runtime.redis, engine=runtime.engine, table=idempotency_keys, namespace="payment")
    bank_http = runtime.peer_client(settings.bank_url, timeout_s=settings.bank_timeout_s)
    return PaymentCollaborators(
        settings=settings,
        engine=runtime.engine,
        make_uow=runtime.uow,
        clock=clock,
        wallets=WalletDirectory(runtime.peer_client(settings.wallet_url), runtime.engine),
        idempotency=store,
        # The payments it accepts keep their request's trace, for the steps the timer re-sends.
        intake=PaymentIntake(
            make_uow=lambda: TraceKeepingUnitOfWork(runtime.engine), store=store, settings=settings, clock=clock
        ),
        bank=BankClient(bank_http, settings),
        payments=SqlPaymentLookup(runtime.engine),
        bank_http=bank_http,
    )


PaymentDep = Annotated[PaymentCollaborators, Depends(collaborators_of(PaymentCollaborators))]
