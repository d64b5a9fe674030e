"""The rewards service's collaborators, made once at startup, and their route dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import UnitOfWork
from ledgerline.core.http import collaborators_of
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.core.wallet_owners import WalletOwners
from ledgerline.rewards.payer import RewardPayer
from ledgerline.rewards.rule_cache import RuleCache
from ledgerline.rewards.settings import RewardsSettings


@dataclass(frozen=True, slots=True)
class RewardsCollaborators:
    settings: RewardsSettings
    engine: AsyncEngine
    make_uow: Callable[[], UnitOfWork]
    # Holders of rewarded wallets, asked of the wallet service once each.
    wallet_owners: WalletOwners
    payer: RewardPayer
    # The rules the consumer passes outcomes over by; the API invalidates it on a new rule.
    rules: RuleCache


async def bootstrap(runtime: ServiceRuntime[RewardsSettings]) -> RewardsCollaborators:
    settings = runtime.settings
    return RewardsCollaborators(
        settings=settings,
        engine=runtime.engine,
        make_uow=runtime.uow,
        wallet_owners=WalletOwners(runtime.peer_client(settings.wallet_url)),
        payer=RewardPayer(
            make_uow=runtime.uow,
            payments=runtime.peer_client(settings.payment_url),
            wallets=runtime.peer_client(settings.wallet_url),
            settings=settings,
        ),
        rules=RuleCache(runtime.engine, refresh_s=settings.rules_refresh_s, rules_max=settings.rules_max),
    )


RewardsDep = Annotated[RewardsCollaborators, Depends(collaborators_of(RewardsCollaborators))]
