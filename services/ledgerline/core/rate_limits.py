"""Rate limits as token buckets in Redis, shared by every instance of a service.

A bucket holds up to `capacity` tokens and gains `refill_per_s` tokens a second; a request
takes one, or is refused with 429 when none is left. The bucket is read, refilled and taken
from in one Lua script, so concurrent requests on any instance cannot both take the last
token. The libraries at hand (`limits`, `slowapi`) count windows rather than keep buckets, so the
bucket is these few lines. Takes of concurrent requests share one pipeline (`PipelinedCommands`).

A Redis that does not answer lets requests through (logged): limits protect the platform from
a few callers, and must not turn a Redis outage into a full one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import partial

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerline.core.problems import Problem
from ledgerline.core.redis_pipelines import PipelinedCommands

KEY_PREFIX = "ledgerline:rate:"
KEY_PART_LENGTH_MAX = 200
_log = logging.getLogger(__name__)

# KEYS[1] the bucket; ARGV capacity, refill per second, now (ms), cost (-1 gives a token back).
# Returns allowed, tokens left.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= cost then
  tokens = math.min(capacity, tokens - cost)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


async def _queue_take(pipe: Pipeline, *, keys: list[str], args: list[float | int]) -> None:
    # EVAL, not EVALSHA: a pipeline with registered scripts asks Redis whether it has them first
    # (a round trip), and EVAL never meets a Redis that lost its scripts in a restart.
    pipe.eval(_TAKE, len(keys), *keys, *args)


@dataclass(frozen=True, slots=True)
class Bucket:
    capacity: int
    refill_per_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # Until one token is back (0 when allowed).
    reset_s: int  # Until the bucket is full again.

    def headers(self) -> dict[str, str]:
        """The RateLimit-* fields (IETF httpapi draft) and, on a refusal, Retry-After."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            fields["Retry-After"] = str(self.retry_after_s)
        return fields


def decide(bucket: Bucket, allowed: bool, tokens: float, cost: int = 1) -> Decision:
    missing = max(0.0, cost - tokens)
    return Decision(
        allowed=allowed,
        limit=bucket.capacity,
        remaining=max(0, math.floor(tokens)),
        retry_after_s=0 if allowed else max(1, math.ceil(missing / bucket.refill_per_s)),
        reset_s=math.ceil((bucket.capacity - tokens) / bucket.refill_per_s),
    )


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._commands = PipelinedCommands(redis)

    async def take(self, key: str, bucket: Bucket, cost: int = 1) -> Decision | None:
        """The decision for one request on `key`; None when Redis could not be asked."""
        try:
            keys = [KEY_PREFIX + key[: KEY_PART_LENGTH_MAX * 3]]
            args = [bucket.capacity, bucket.refill_per_s, int(time.time() * 1000), cost]
            [(allowed, tokens)] = await self._commands.run(partial(_queue_take, keys=keys, args=args))
        except RedisError as error:
            _log.warning("rate limit for %s not checked (%s); letting the request through", key, error)
            return None
        return decide(bucket, bool(int(allowed)), float(tokens), cost)

    async def give_back(self, key: str, bucket: Bucket) -> None:
        """Returns the token a request took, for limits that count only failed attempts."""
        await self.take(key, bucket, cost=-1)

    async def enforce(self, key: str, bucket: Bucket) -> Decision | None:
        """Takes a token, or raises 429 with Retry-After and the RateLimit-* headers."""
        decision = await self.take(key, bucket)
        if decision is not None and not decision.allowed:
            raise Problem(
                429,
                "rate_limited",
                "Too many requests",
                f"at most {bucket.capacity} at once, {bucket.refill_per_s:g} more per second; "
                f"retry in {decision.retry_after_s} s",
                headers=decision.headers(),
            )
        return decision


class RateLimitHeaders:
    """Adds the RateLimit-* fields of the request's decision (`request.state.rate_limit`) to the
    response it gets, as plain ASGI middleware (a refusal carries them in its problem already)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            decision = scope.get("state", {}).get("rate_limit")
            if message["type"] == "http.response.start" and isinstance(decision, Decision) and decision.allowed:
                fields = [(name.lower().encode(), value.encode()) for name, value in decision.headers().items()]
                message["headers"] = [*message.get("headers", []), *fields]
            await send(message)

        await self._app(scope, receive, send_with_fields)
