"""Wallet service: balances and holds; answers the payment saga's wallet commands."""

from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.runtime import ServiceRuntime, Subscription, build_service_app
from ledgerline.wallet import api, hold_release_api
from ledgerline.wallet.handlers import COMMAND_HANDLING
from ledgerline.wallet.settings import WalletSettings
from ledgerline.wallet.wiring import bootstrap


def create_app(settings: WalletSettings | None = None) -> FastAPI:
    runtime = ServiceRuntime("wallet", settings or WalletSettings())
    return build_service_app(
        runtime=runtime,
        bootstrap=bootstrap,
        title="Ledgerline wallet service",
        description="Wallets: balance, held and available funds, overdraft limits, freezing.",
        routers=[api.router, hold_release_api.router],
        subscriptions=[Subscription(topics=[topics.WALLET_COMMANDS], batch=COMMAND_HANDLING)],
    )
