"""What the wallet service's routes are given: its settings and its database, typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.http import collaborators_of
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.wallet.settings import WalletSettings


@dataclass(frozen=True, slots=True)
class WalletCollaborators:
    settings: WalletSettings
    engine: AsyncEngine


async def bootstrap(runtime: ServiceRuntime[WalletSettings]) -> WalletCollaborators:
    return WalletCollaborators(runtime.settings, runtime.engine)


WalletDep = Annotated[WalletCollaborators, Depends(collaborators_of(WalletCollaborators))]
