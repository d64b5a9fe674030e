"""The token bucket on a real Redis: exactly `capacity` requests pass at once and the next is
refused with how long to wait; the bucket refills at its rate; buckets of different keys are
independent; concurrent takes never hand out more tokens than the bucket holds; and a token
given back is there to take again, up to the capacity."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ledgerline.core.rate_limits import Bucket, RateLimiter, decide
from ledgerline.infra.launcher import Infrastructure

CAPACITY = 5


@pytest.fixture
async def limiter(infra: Infrastructure) -> AsyncIterator[RateLimiter]:
    redis = Redis.from_url(infra.redis.url, socket_timeout=5)
    yield RateLimiter(redis)
    await redis.aclose()


async def test_capacity_passes_and_one_more_is_refused(limiter: RateLimiter) -> None:
    key, bucket = f"test:{uuid.uuid4()}", Bucket(CAPACITY, refill_per_s=0.01)
    decisions = [await limiter.take(key, bucket) for _ in range(CAPACITY + 1)]
    assert [d.allowed for d in decisions if d] == [True] * CAPACITY + [False]
    assert [d.remaining for d in decisions if d] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused is not None and refused.retry_after_s >= 1 and refused.headers()["Retry-After"]
    assert (await limiter.take(f"test:{uuid.uuid4()}", bucket)).allowed  # type: ignore[union-attr]


async def test_the_bucket_refills_at_its_rate(limiter: RateLimiter) -> None:
    key, bucket = f"test:{uuid.uuid4()}", Bucket(2, refill_per_s=0.5)
    assert all([(await limiter.take(key, bucket)).allowed for _ in range(2)])  # type: ignore[union-attr]
    assert not (await limiter.take(key, bucket)).allowed  # type: ignore[union-attr]
    await asyncio.sleep(4.5)  # More than 2 tokens' worth; the bucket holds at most 2.
    assert [(await limiter.take(key, bucket)).allowed for _ in range(3)] == [True, True, False]  # type: ignore[union-attr]


async def test_concurrent_takes_never_exceed_the_capacity(limiter: RateLimiter) -> None:
    key, bucket = f"test:{uuid.uuid4()}", Bucket(CAPACITY, refill_per_s=0.01)
    decisions = await asyncio.gather(*(limiter.take(key, bucket) for _ in range(50)))
    assert sum(1 for d in decisions if d and d.allowed) == CAPACITY


def test_decision_fields() -> None:
    bucket = Bucket(10, refill_per_s=0.5)
    refused = decide(bucket, allowed=False, tokens=0.2)
    assert (refused.remaining, refused.retry_after_s, refused.reset_s) == (0, 2, 20)
    assert decide(bucket, allowed=True, tokens=10).headers() == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "10",
        "RateLimit-Reset": "0",
    }


async def test_a_token_given_back_is_taken_again_but_never_overfills_the_bucket(limiter: RateLimiter) -> None:
    key, bucket = f"test:{uuid.uuid4()}", Bucket(CAPACITY, refill_per_s=0.01)
    await limiter.give_back(key, bucket)  # On a full bucket: nothing to return.
    for _ in range(CAPACITY * 3):  # Requests that give their token back never empty it.
        assert (await limiter.take(key, bucket)).allowed  # type: ignore[union-attr]
        await limiter.give_back(key, bucket)
    decisions = [await limiter.take(key, bucket) for _ in range(CAPACITY + 1)]
    assert [d.allowed for d in decisions if d] == [True] * CAPACITY + [False]
