"""Redis commands of concurrent requests, sent together: one pipeline per turn of the event loop.

Under load a service serves many requests at once, and each asks Redis something small (take a
rate-limit token, claim an idempotency key). Sent one by one, every command pays its own client
work, socket write and wake-up for the answer; queued in the same turn of the event loop and
sent as one pipeline, they pay that once. A caller alone waits for nobody: its pipeline leaves
on the next turn, with whatever else was queued by then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

# Commands per pipeline: a bound on one round trip's size, far above a turn's usual share.
PIPELINE_COMMANDS_MAX = 512

Queue = Callable[[Pipeline], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _Queued:
    queue: Queue  # Adds the caller's commands to the pipeline.
    replies: int  # How many commands (and so replies) that is.
    answered: asyncio.Future[list[Any]]


class PipelinedCommands:
    def __init__(self, redis: Redis, *, commands_max: int = PIPELINE_COMMANDS_MAX) -> None:
        if commands_max < 1:
            raise ValueError(f"a pipeline carries at least one command, not {commands_max}")
        self._redis = redis
        self._commands_max = commands_max
        self._waiting: list[_Queued] = []
        self._sender: asyncio.Task[None] | None = None

    async def run(self, queue: Queue, replies: int = 1) -> list[Any]:
        """The replies to the commands `queue` adds, in order; raises the first error among
        them, or the error that failed the whole pipeline (Redis unreachable)."""
        if not 1 <= replies <= self._commands_max:
            raise ValueError(f"1..{self._commands_max} commands per caller, not {replies}")
        answered: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Queued(queue, replies, answered))
        if self._sender is None:
            # Starts on the next turn, so every caller of this turn rides along.
            self._sender = asyncio.create_task(self._send_waiting(), name="redis-pipeline")
        return await answered

    async def _send_waiting(self) -> None:
        try:
            while self._waiting:
                await self._send(self._take_pipeline())
        finally:
            self._sender = None

    def _take_pipeline(self) -> list[_Queued]:
        taken, commands = 0, 0
        while taken < len(self._waiting) and commands + self._waiting[taken].replies <= self._commands_max:
            commands += self._waiting[taken].replies
            taken += 1
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for item in batch:
                    await item.queue(pipe)
                replies = await pipe.execute(raise_on_error=False)
            expected = sum(item.replies for item in batch)
            if len(replies) != expected:
                raise RuntimeError(f"a pipeline of {expected} commands got {len(replies)} replies")
        except BaseException as error:
            for item in batch:
                if not item.answered.done():
                    item.answered.set_exception(error)
            if not isinstance(error, Exception):
                raise  # Cancelled: every caller has heard, now stop.
            return
        at = 0
        for item in batch:
            mine = replies[at : at + item.replies]
            at += item.replies
            if item.answered.done():  # The caller went away.
                continue
            failed = next((reply for reply in mine if isinstance(reply, Exception)), None)
            if failed is not None:
                item.answered.set_exception(failed)
            else:
                item.answered.set_result(mine)
