"""The notification service's collaborators, made once at startup, and their route dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.http import collaborators_of
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.core.wallet_owners import WalletOwners
from ledgerline.notification.settings import NotificationSettings


@dataclass(frozen=True, slots=True)
class NotificationCollaborators:
    settings: NotificationSettings
    engine: AsyncEngine
    producer: AIOKafkaProducer
    wallet_owners: WalletOwners
    # One pool of connections to subscribers' endpoints, shared by every delivery worker.
    webhook_http: httpx.AsyncClient


async def bootstrap(runtime: ServiceRuntime[NotificationSettings]) -> NotificationCollaborators:
    settings = runtime.settings
    return NotificationCollaborators(
        settings=settings,
        engine=runtime.engine,
        producer=runtime.producer,
        wallet_owners=WalletOwners(runtime.peer_client(settings.wallet_url)),
        webhook_http=httpx.AsyncClient(timeout=settings.webhook_timeout_s),
    )


NotificationDep = Annotated[NotificationCollaborators, Depends(collaborators_of(NotificationCollaborators))]
