"""The rules as the consumer knows them, read again at most every `refresh_s`.

The consumer asks it before a batch, so that outcomes no rule can match are passed over without
a transaction or an inbox row. Rules are only ever added, so a stale copy can only miss a new
rule: one added through this instance is seen at once (`invalidate`), one added through another
instance within `refresh_s`. Outcomes that do matter are matched again, in their transaction,
against the rules as stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.rewards import repository
from ledgerline.rewards.domain import Rule


class RuleCache:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        refresh_s: float,
        rules_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._refresh_s = refresh_s
        # The API refuses more rules than this, so one read holds them all.
        self._rules_max = rules_max
        self._clock = clock
        self._rules: list[Rule] = []
        self._read_at: float | None = None

    async def rules(self) -> list[Rule]:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            async with self._engine.connect() as connection:
                self._rules = await repository.list_rules(connection, after=None, limit=self._rules_max)
            self._read_at = now
        return self._rules

    def invalidate(self) -> None:
        """A rule was added: the next batch reads them again."""
        self._read_at = None
