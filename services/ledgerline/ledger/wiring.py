"""The ledger service's collaborators, made once at startup, and their route dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.http import collaborators_of
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.core.wallet_owners import WalletOwners
from ledgerline.ledger.settings import LedgerSettings


@dataclass(frozen=True, slots=True)
class LedgerCollaborators:
    settings: LedgerSettings
    engine: AsyncEngine
    wallet_owners: WalletOwners
    # A new client to the wallet service for each reconciliation pass, closed after it.
    wallet_client: Callable[[], httpx.AsyncClient]


async def bootstrap(runtime: ServiceRuntime[LedgerSettings]) -> LedgerCollaborators:
    wallet_url = runtime.settings.wallet_url
    return LedgerCollaborators(
        settings=runtime.settings,
        engine=runtime.engine,
        wallet_owners=WalletOwners(runtime.peer_client(wallet_url)),
        wallet_client=lambda: runtime.peer_client(wallet_url),
    )


LedgerDep = Annotated[LedgerCollaborators, Depends(collaborators_of(LedgerCollaborators))]
