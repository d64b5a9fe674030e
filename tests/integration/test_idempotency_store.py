"""The idempotency store answers in-flight (409), reused-with-another-body (422) and replay, with
Redis as the fast path and the database unique key as the guarantee when Redis is gone."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.idempotency import IdempotencyStore, StoredResponse, fingerprint, validate_key
from ledgerline.core.problems import Problem
from ledgerline.infra.launcher import Infrastructure
from ledgerline.infra.process import free_port
from tests.integration.conftest import idempotency_keys


def store(engine: AsyncEngine, redis_url: str) -> IdempotencyStore:
    return IdempotencyStore(
        redis=Redis.from_url(redis_url, socket_timeout=1),
        engine=engine,
        table=idempotency_keys,
        namespace=f"t{uuid.uuid4().hex[:6]}",
    )


async def test_in_flight_mismatch_and_replay(engine: AsyncEngine, infra: Infrastructure) -> None:
    keys = store(engine, infra.redis.url)
    fp, other = fingerprint("POST", "/v1/x", {"a": 1}), fingerprint("POST", "/v1/x", {"a": 2})
    assert await keys.begin("k1", fp) is None
    with pytest.raises(Problem) as in_flight:
        await keys.begin("k1", fp)
    assert in_flight.value.status == 409
    with pytest.raises(Problem) as mismatch:
        await keys.begin("k1", other)
    assert mismatch.value.status == 422
    response = StoredResponse(202, {"id": "p1"})
    async with engine.begin() as connection:
        assert await keys.record(connection, "k1", fp, response)
    await keys.finish("k1", fp, response)
    assert await keys.begin("k1", fp) == response


async def test_database_decides_without_redis(engine: AsyncEngine) -> None:
    keys = store(engine, f"redis://127.0.0.1:{free_port()}/0")  # Nothing listens there.
    fp = fingerprint("POST", "/v1/x", {"a": 1})
    assert await keys.begin("k2", fp) is None
    first = StoredResponse(202, {"id": "first"})
    async with engine.begin() as connection:
        assert await keys.record(connection, "k2", fp, first)
    async with engine.begin() as connection:
        assert not await keys.record(connection, "k2", fp, StoredResponse(202, {"id": "second"}))
    assert await keys.begin("k2", fp) == first
    with pytest.raises(Problem) as mismatch:
        await keys.begin("k2", fingerprint("POST", "/v1/x", {"a": 9}))
    assert mismatch.value.status == 422


def test_keys_are_validated() -> None:
    for bad, status in ((None, 400), ("", 400), ("x" * 256, 400), ("tab\there", 400)):
        with pytest.raises(Problem) as error:
            validate_key(bad)
        assert error.value.status == status
    assert validate_key("x" * 255) == "x" * 255


async def test_abandon_releases_only_its_own_claim(engine: AsyncEngine, infra: Infrastructure) -> None:
    keys = store(engine, infra.redis.url)
    mine, theirs = fingerprint("POST", "/v1/x", {"a": 1}), fingerprint("POST", "/v1/x", {"a": 2})
    assert await keys.begin("k3", mine) is None
    await keys.abandon("k3", theirs)  # Not the holder: the claim stays.
    with pytest.raises(Problem) as in_flight:
        await keys.begin("k3", mine)
    assert in_flight.value.status == 409
    await keys.abandon("k3", mine)
    assert await keys.begin("k3", mine) is None  # Released: the request may run again.
    done = StoredResponse(202, {"id": "p"})
    await keys.finish("k3", mine, done)
    await keys.abandon("k3", mine)  # A stored response is never released.
    assert await keys.begin("k3", mine) == done
