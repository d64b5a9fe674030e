"""What the wallet service's routes are given: its settings and its database, typed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.http import collaborators_of
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.wallet.settings import WalletSettings


@dataclass(frozen=True, slots=True)
class WalletCollaborators:
    settings: WalletSettings
    engine: AsyncEngine
    # A client to the payment service for one admin action, closed after it. It sends no token
    # of its own: the action is the operator's, so the lookup is made with the operator's token.
    payment_client: Callable[[], httpx.AsyncClient]


async def bootstrap(runtime: ServiceRuntime[WalletSettings]) -> WalletCollaborators:
    settings = runtime.settings
    return WalletCollaborators(
        settings,
        runtime.engine,
        lambda: httpx.AsyncClient(base_url=settings.payment_url, timeout=settings.http_timeout_s),
    )


WalletDep = Annotated[WalletCollaborators, Depends(collaborators_of(WalletCollaborators))]
