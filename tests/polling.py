"""Waiting for asynchronous effects in tests: poll a check until it holds or time runs out."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

WAIT_S = 40.0
POLL_INTERVAL_S = 0.1


async def eventually(check: Callable[[], Any | Awaitable[Any]], timeout_s: float = WAIT_S) -> Any:
    """The first truthy result of `check()` (sync or async), or its last result at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(POLL_INTERVAL_S)
