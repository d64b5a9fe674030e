"""The identity service layer on real PostgreSQL and Redis: concurrent use of one refresh token
rotates it once and burns the family, revocation is recorded in the database even when Redis is
down, one signing key is created however many replicas start, retired keys leave the JWKS after
the overlap, private keys are stored encrypted, and the revoked sessions a Redis lost are written
back from the database, each expiring with its family."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.auth import REVOKED_SESSION_PREFIX, RevokedSessions
from ledgerline.core.db import create_engine
from ledgerline.core.migrations import upgrade_to_head
from ledgerline.identity import revocations
from ledgerline.identity.domain import RefreshRefused
from ledgerline.identity.service import IdentityService
from ledgerline.identity.settings import IdentitySettings
from ledgerline.identity.tables import refresh_families, refresh_tokens, signing_keys, users
from ledgerline.infra.launcher import Infrastructure
from ledgerline.infra.process import free_port

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def settings_for(url: str, redis_url: str) -> IdentitySettings:
    return IdentitySettings(
        database_url=url,
        redis_url=redis_url,
        environment="test",
        argon2_memory_cost_kib=19456,
        argon2_time_cost=2,
        argon2_parallelism=1,
        access_token_ttl_s=300,
        key_overlap_s=600,
        key_activation_delay_s=10,
    )


@pytest.fixture
async def identity_database(infra: Infrastructure) -> AsyncIterator[str]:
    """A fresh identity database migrated with the service's own migrations."""
    name = f"identity_{uuid.uuid4().hex[:10]}"
    infra.postgres.create_database(name)
    url = infra.postgres.url(name)
    await asyncio.to_thread(upgrade_to_head, "ledgerline.identity", url)
    yield url
    infra.postgres.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(identity_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(identity_database, pool_size=5, pool_timeout_s=10)
    yield engine
    await engine.dispose()


@pytest.fixture
async def redis(infra: Infrastructure) -> AsyncIterator[Redis]:
    client = Redis.from_url(infra.redis.url, socket_timeout=2)
    yield client
    await client.aclose()


def service(engine: AsyncEngine, redis: Redis, infra: Infrastructure, clock: Clock | None = None) -> IdentityService:
    settings = settings_for("unused", infra.redis.url)
    return IdentityService(settings, engine, RevokedSessions(redis), **({"clock": clock} if clock else {}))


async def logged_in(identity: IdentityService) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    await identity.register(email, PASSWORD)
    await identity.ensure_signing_key()
    issued = await identity.login(email, PASSWORD)
    assert issued.refresh_token is not None
    return email, issued.refresh_token


async def family_of(engine: AsyncEngine, refresh_token: str) -> dict[str, object]:
    async with engine.connect() as connection:
        token_id = uuid.UUID(refresh_token.partition(".")[0])
        family_id = (
            await connection.execute(select(refresh_tokens.c.family_id).where(refresh_tokens.c.id == token_id))
        ).scalar_one()
        row = (await connection.execute(select(refresh_families).where(refresh_families.c.id == family_id))).one()
    return dict(row._mapping)


async def test_concurrent_use_of_one_refresh_token_rotates_once_and_burns_the_family(
    engine: AsyncEngine, redis: Redis, infra: Infrastructure
) -> None:
    identity = service(engine, redis, infra)
    _, refresh_token = await logged_in(identity)
    results = await asyncio.gather(*(identity.refresh(refresh_token) for _ in range(5)), return_exceptions=True)
    rotated = [result for result in results if not isinstance(result, BaseException)]
    refused = [result for result in results if isinstance(result, RefreshRefused)]
    assert len(rotated) == 1 and len(refused) == 4, results
    family = await family_of(engine, refresh_token)
    assert family["revoked_reason"] == "reuse_detected"
    assert await redis.exists(REVOKED_SESSION_PREFIX + str(family["id"]))
    assert rotated[0].refresh_token is not None
    with pytest.raises(RefreshRefused):
        await identity.refresh(rotated[0].refresh_token)


async def test_logout_is_recorded_in_the_database_when_redis_is_down(
    engine: AsyncEngine, redis: Redis, infra: Infrastructure
) -> None:
    _, refresh_token = await logged_in(service(engine, redis, infra))
    dead_redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    without_redis = IdentityService(settings_for("unused", infra.redis.url), engine, RevokedSessions(dead_redis))
    await without_redis.logout(refresh_token)
    await dead_redis.aclose()
    family = await family_of(engine, refresh_token)
    assert family["revoked_reason"] == "logout" and family["revoked_at"] is not None
    assert not await redis.exists(REVOKED_SESSION_PREFIX + str(family["id"]))
    with pytest.raises(RefreshRefused):
        await without_redis.refresh(refresh_token)


async def test_tampered_refresh_secret_is_refused_and_changes_nothing(
    engine: AsyncEngine, redis: Redis, infra: Infrastructure
) -> None:
    identity = service(engine, redis, infra)
    _, refresh_token = await logged_in(identity)
    token_id, _, secret = refresh_token.partition(".")
    with pytest.raises(RefreshRefused):
        await identity.refresh(f"{token_id}.{secret[::-1]}")
    await identity.logout(f"{token_id}.{secret[::-1]}")
    assert (await family_of(engine, refresh_token))["revoked_at"] is None
    assert (await identity.refresh(refresh_token)).refresh_token


async def test_replicas_starting_together_create_one_signing_key(
    engine: AsyncEngine, redis: Redis, infra: Infrastructure
) -> None:
    replicas = [service(engine, redis, infra) for _ in range(4)]
    keys = await asyncio.gather(*(replica.ensure_signing_key() for replica in replicas))
    assert len({key.kid for key in keys}) == 1
    assert len((await replicas[0].jwks())["keys"]) == 1


async def test_retired_key_leaves_the_jwks_after_the_overlap_and_keys_are_encrypted_at_rest(
    engine: AsyncEngine, redis: Redis, infra: Infrastructure
) -> None:
    clock = Clock()
    identity = service(engine, redis, infra, clock)
    old = await identity.ensure_signing_key()
    clock.now += timedelta(seconds=1)
    new = await identity.rotate_signing_key()
    assert [key["kid"] for key in (await identity.jwks())["keys"]] == [new.kid, old.kid]
    assert (await identity.ensure_signing_key()).kid == old.kid, "the old key signs until the new one activates"
    clock.now += timedelta(seconds=10)
    assert (await identity.ensure_signing_key()).kid == new.kid
    clock.now += timedelta(seconds=599)
    assert len((await identity.jwks())["keys"]) == 2
    clock.now += timedelta(seconds=1)
    assert [key["kid"] for key in (await identity.jwks())["keys"]] == [new.kid]
    async with engine.connect() as connection:
        sealed = (await connection.execute(select(signing_keys.c.private_key_pem))).scalars().all()
    assert sealed and all(pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") for pem in sealed)
    assert all("d" not in key for key in (await identity.jwks())["keys"])


async def test_login_upgrades_a_hash_made_with_older_cost_settings(
    engine: AsyncEngine, redis: Redis, infra: Infrastructure
) -> None:
    cheap = IdentityService(
        settings_for("unused", infra.redis.url).model_copy(update={"argon2_time_cost": 1}),
        engine,
        RevokedSessions(redis),
    )
    email, _ = await logged_in(cheap)
    current = service(engine, redis, infra)
    await current.login(email, PASSWORD)
    async with engine.connect() as connection:
        stored = (await connection.execute(select(users.c.password_hash).where(users.c.email == email))).scalar_one()
    assert "t=2" in stored and not current.passwords.needs_rehash(stored)
    assert (await current.login(email, PASSWORD)).access_token


async def test_revoked_sessions_lost_by_redis_are_written_back_page_by_page(
    engine: AsyncEngine, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    user_id = uuid.uuid4()
    families = {  # id: (expires in, revoked)
        uuid.uuid4(): (timedelta(days=1), True),
        uuid.uuid4(): (timedelta(days=2), True),
        uuid.uuid4(): (timedelta(hours=1), True),
        uuid.uuid4(): (-timedelta(hours=1), True),  # Expired: its tokens are refused anyway.
        uuid.uuid4(): (timedelta(days=1), False),  # A live session.
    }
    async with engine.begin() as connection:
        await connection.execute(
            users.insert().values(id=user_id, email=f"{user_id}@example.com", password_hash="x", scopes=[])
        )
        await connection.execute(
            refresh_families.insert(),
            [
                {
                    "id": f,
                    "user_id": user_id,
                    "created_at": now,
                    "expires_at": now + ttl,
                    "revoked_at": now if gone else None,
                }
                for f, (ttl, gone) in families.items()
            ],
        )
    monkeypatch.setattr(revocations, "RESTORE_PAGE_SIZE", 2)  # Three revoked and live: two pages.
    sessions = RevokedSessions(redis)
    await sessions.mark_whole(False)
    restorer = revocations.RevocationRestorer(engine, sessions, interval_s=1, clock=lambda: now)
    assert await restorer.restore() == 3
    assert await sessions.whole()
    for family_id, (ttl, gone) in families.items():
        kept = await redis.exists(REVOKED_SESSION_PREFIX + str(family_id))
        assert bool(kept) == (gone and ttl > timedelta(0)), family_id
        if kept:
            # Each expires with its family, not before.
            assert (
                ttl.total_seconds() - 5
                <= await redis.ttl(REVOKED_SESSION_PREFIX + str(family_id))
                <= ttl.total_seconds() + 5
            )
