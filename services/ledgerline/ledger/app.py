"""Ledger service: the double-entry source of truth."""

from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.runtime import ServiceRuntime, Subscription, build_service_app
from ledgerline.ledger import api
from ledgerline.ledger.handlers import COMMAND_HANDLING, WALLET_EVENT_HANDLING
from ledgerline.ledger.reconciler import Reconciler
from ledgerline.ledger.settings import LedgerSettings


def _workers(runtime: ServiceRuntime) -> Sequence[Callable[[], Awaitable[None]]]:
    settings: LedgerSettings = runtime.settings  # type: ignore[assignment]
    if not settings.reconciliation_enabled:
        return []
    reconciler = Reconciler(
        engine=runtime.engine, settings=settings, wallet_client=lambda: runtime.peer_client(settings.wallet_url)
    )
    return [reconciler.run]


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    runtime = ServiceRuntime("ledger", settings or LedgerSettings())
    return build_service_app(
        runtime=runtime,
        title="Ledgerline ledger service",
        description="Double-entry ledger: accounts, journal entries, postings, reconciliation.",
        routers=[api.router],
        subscriptions=[
            Subscription(topics=[topics.LEDGER_COMMANDS], batch=COMMAND_HANDLING),
            Subscription(topics=[topics.WALLET_EVENTS], batch=WALLET_EVENT_HANDLING, group_suffix="-wallet-events"),
        ],
        workers=_workers,
    )
