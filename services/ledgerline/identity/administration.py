"""What the `ledgerline identity` commands do, straight against the identity database: the first
admin client has to come from somewhere that needs no token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from redis.asyncio import Redis

from ledgerline.core import scopes
from ledgerline.core.auth import RevokedSessions
from ledgerline.core.db import create_engine
from ledgerline.identity.domain import SigningKey
from ledgerline.identity.service import IdentityService
from ledgerline.identity.settings import IdentitySettings

Result = TypeVar("Result")
# What each platform service's own client may do when it calls another service; a service that
# calls none has no client.
SERVICE_CLIENT_SCOPES = {
    "payment": ("wallets:read", "wallets:read-any", "bank:write"),
    "ledger": ("wallets:read", "wallets:read-any"),
    "notification": ("wallets:read", "wallets:read-any"),
    "rewards": ("wallets:read", "wallets:read-any", scopes.REWARDS_WRITE),
}


def service_client_id(service: str) -> str:
    return f"{service}-service"


def _run(action: Callable[[IdentityService], Awaitable[Result]]) -> Result:
    async def run() -> Result:
        settings = IdentitySettings()
        engine = create_engine(settings.database_url, pool_size=1, pool_timeout_s=settings.database_pool_timeout_s)
        redis = Redis.from_url(settings.redis_url, socket_timeout=settings.http_timeout_s)
        try:
            return await action(IdentityService(settings, engine, RevokedSessions(redis)))
        finally:
            await redis.aclose()
            await engine.dispose()

    return asyncio.run(run())


def rotate_signing_key() -> SigningKey:
    return _run(lambda identity: identity.rotate_signing_key())


def create_service_client(client_id: str, scopes: list[str]) -> str:
    return _run(lambda identity: identity.create_client(client_id, scopes))


def provision_clients(
    database_url: str,
    redis_url: str,
    clients: Mapping[str, Sequence[str]],
    secrets: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Each client created or given its secret from `secrets` (a fresh one where none is given),
    for a launcher or a deployment that starts the services with them.

    The secrets are random 256-bit values, so the cheapest argon2id cost protects them as well
    as the password cost would, and a launcher does not wait seconds for hashing.
    """

    async def run() -> dict[str, str]:
        settings = IdentitySettings(
            database_url=database_url,
            redis_url=redis_url,
            argon2_time_cost=1,
            argon2_memory_cost_kib=8 * 1024,
            argon2_parallelism=1,
        )
        engine = create_engine(database_url, pool_size=1, pool_timeout_s=settings.database_pool_timeout_s)
        redis = Redis.from_url(redis_url, socket_timeout=settings.http_timeout_s)
        try:
            identity = IdentityService(settings, engine, RevokedSessions(redis))
            given = secrets or {}
            return {
                client_id: await identity.provision_client(client_id, list(scopes), given.get(client_id))
                for client_id, scopes in clients.items()
            }
        finally:
            await redis.aclose()
            await engine.dispose()

    return asyncio.run(run())
