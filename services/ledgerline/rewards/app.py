"""Rewards service: cashback by rules on completed payments, paid and clawed back as payments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.events import Envelope
from ledgerline.core.http import wallet_owners
from ledgerline.core.kafka import BatchHandler
from ledgerline.core.processing import InboxProcessor
from ledgerline.core.runtime import ServiceRuntime, Subscription, build_service_app
from ledgerline.rewards import api, repository
from ledgerline.rewards.outcomes import OutcomeHandling, initialise_metrics, wallets_to_know
from ledgerline.rewards.payer import RewardPayer
from ledgerline.rewards.settings import RewardsSettings

# Rule currencies read at start to initialise the metrics; more rules than this are unusual.
RULES_READ_AT_START_MAX = 1000


def _outcomes(runtime: ServiceRuntime, group: str) -> BatchHandler:
    """Holders are asked of the wallet service before the batch's transaction opens, so the
    transaction never waits on HTTP (an owner, once known, is remembered)."""
    owners = wallet_owners(runtime)
    processor = InboxProcessor(
        consumer=group, engine=runtime.engine, handlers={}, batch=OutcomeHandling(owners).handling()
    )

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        for wallet in sorted(wallets_to_know(envelopes)):
            await owners.owner_of(wallet)
        await processor.handle_batch(envelopes)

    return handle_batch


def create_app(settings: RewardsSettings | None = None) -> FastAPI:
    settings = settings or RewardsSettings()
    runtime = ServiceRuntime("rewards", settings)

    def workers(runtime: ServiceRuntime) -> Sequence[Callable[[], Awaitable[None]]]:
        payer = RewardPayer(
            make_uow=runtime.uow,
            payments=runtime.peer_client(settings.payment_url),
            wallets=runtime.peer_client(settings.wallet_url),
            settings=settings,
        )

        async def metrics_at_start() -> None:
            async with runtime.engine.connect() as connection:
                rules = await repository.list_rules(connection, after=None, limit=RULES_READ_AT_START_MAX)
            initialise_metrics(sorted({"EUR", *(rule.currency for rule in rules)}))

        return [metrics_at_start, payer.run]

    return build_service_app(
        runtime=runtime,
        title="Ledgerline rewards service",
        description="Cashback rules, and the rewards they pay and claw back through the payment saga.",
        routers=[api.router],
        subscriptions=[Subscription(topics=[topics.PAYMENT_EVENTS], make_batch_handler=_outcomes)],
        workers=workers,
    )
