"""Rewards service: cashback by rules on completed payments, paid and clawed back as payments."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import FastAPI

from ledgerline.core import topics
from ledgerline.core.events import Envelope
from ledgerline.core.kafka import BatchHandler
from ledgerline.core.processing import InboxProcessor
from ledgerline.core.runtime import ServiceRuntime, Subscription, Worker, build_service_app
from ledgerline.rewards import api
from ledgerline.rewards.outcomes import OutcomeHandling, initialise_metrics, mattering, wallets_to_know
from ledgerline.rewards.settings import RewardsSettings
from ledgerline.rewards.wiring import RewardsCollaborators, bootstrap


def _outcomes(service: RewardsCollaborators) -> Callable[[str], BatchHandler]:
    """Outcomes no rule can match are passed over before any transaction (a batch of only those
    opens none and writes no inbox row). Holders are asked of the wallet service before the
    batch's transaction opens, so the transaction never waits on HTTP (an owner, once known, is
    remembered)."""
    owners = service.wallet_owners

    def make(group: str) -> BatchHandler:
        processor = InboxProcessor(
            consumer=group, engine=service.engine, handlers={}, batch=OutcomeHandling(owners).handling()
        )

        async def handle_batch(envelopes: Sequence[Envelope]) -> None:
            kept = mattering(envelopes, await service.rules.rules())
            if not kept:
                return
            for wallet in sorted(wallets_to_know(kept)):
                await owners.owner_of(wallet)
            await processor.handle_batch(kept)

        return handle_batch

    return make


def _workers(service: RewardsCollaborators) -> Sequence[Worker]:
    async def metrics_at_start() -> None:
        initialise_metrics(sorted({"EUR", *(rule.currency for rule in await service.rules.rules())}))

    return [metrics_at_start, service.payer.run]


def create_app(settings: RewardsSettings | None = None) -> FastAPI:
    return build_service_app(
        runtime=ServiceRuntime("rewards", settings or RewardsSettings()),
        bootstrap=bootstrap,
        title="Ledgerline rewards service",
        description="Cashback rules, and the rewards they pay and claw back through the payment saga.",
        routers=[api.router],
        subscriptions=lambda service: [
            Subscription(topics=[topics.PAYMENT_EVENTS], make_batch_handler=_outcomes(service))
        ],
        workers=_workers,
    )
