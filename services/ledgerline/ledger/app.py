"""Ledger service: the double-entry source of truth."""

from collections.abc import Sequence

from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.runtime import ServiceRuntime, Subscription, Worker, build_service_app
from ledgerline.ledger import api
from ledgerline.ledger.handlers import COMMAND_HANDLING, WALLET_EVENT_HANDLING
from ledgerline.ledger.reconciler import Reconciler
from ledgerline.ledger.settings import LedgerSettings
from ledgerline.ledger.wiring import LedgerCollaborators, bootstrap


def _workers(ledger: LedgerCollaborators) -> Sequence[Worker]:
    if not ledger.settings.reconciliation_enabled:
        return []
    reconciler = Reconciler(engine=ledger.engine, settings=ledger.settings, wallet_client=ledger.wallet_client)
    return [reconciler.run]


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    runtime = ServiceRuntime("ledger", settings or LedgerSettings())
    return build_service_app(
        runtime=runtime,
        bootstrap=bootstrap,
        title="Ledgerline ledger service",
        description="Double-entry ledger: accounts, journal entries, postings, reconciliation.",
        routers=[api.router],
        subscriptions=[
            Subscription(topics=[topics.LEDGER_COMMANDS], batch=COMMAND_HANDLING),
            Subscription(topics=[topics.WALLET_EVENTS], batch=WALLET_EVENT_HANDLING, group_suffix="-wallet-events"),
        ],
        workers=_workers,
    )
