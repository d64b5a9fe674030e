"""Retention of the bookkeeping that only deduplicates: inbox rows and idempotency records.

Each row is needed while a copy of what it stands for can still arrive: a redelivered message
(the broker redelivers within minutes, a replay from a dead-letter topic within days) or a
client's retry with the same key. Past a retention well beyond those windows the row is only
weight, so a background worker of each service deletes it, in batches of a bounded size and a
bounded number of batches per round, so a backlog never turns into one long transaction. The
outbox needs none: the relay deletes each row once it is published.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.settings import ServiceSettings

_log = logging.getLogger(__name__)

PRUNED_ROWS = Counter(
    "ledgerline_retention_pruned_rows_total",
    "Rows deleted for being older than their table's retention",
    ["service", "table"],
)


@dataclass(frozen=True, slots=True)
class Retained:
    """A table whose rows go once `time_column` is older than `retention`."""

    table: str
    time_column: str
    retention: timedelta

    def __post_init__(self) -> None:
        if self.retention <= timedelta(0):
            raise ValueError(f"the retention of {self.table} must be positive, got {self.retention}")


@dataclass(frozen=True, slots=True)
class RetentionLimits:
    interval_s: float  # Between rounds.
    batch_size_max: int  # Rows per DELETE (one transaction).
    batches_per_round_max: int  # A backlog is worked off over several rounds.

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.batch_size_max < 1 or self.batches_per_round_max < 1:
            raise ValueError(f"inconsistent retention limits {self}")


def retained_tables(settings: ServiceSettings, *, idempotency_records: bool) -> list[Retained]:
    """What a service prunes: its inbox, and its idempotency records if it keeps any."""
    tables = [Retained("inbox", "processed_at", timedelta(seconds=settings.inbox_retention_s))]
    if idempotency_records:
        retention = timedelta(seconds=settings.idempotency_retention_s)
        tables.append(Retained("idempotency_keys", "created_at", retention))
    return tables


def limits_of(settings: ServiceSettings) -> RetentionLimits:
    return RetentionLimits(
        interval_s=settings.retention_interval_s,
        batch_size_max=settings.retention_batch_size_max,
        batches_per_round_max=settings.retention_batches_per_round_max,
    )


def cutoff(now: datetime, retained: Retained) -> datetime:
    """Rows whose time is before this are past their retention."""
    return now - retained.retention


def _delete_batch(retained: Retained) -> str:
    # Table and column names come from code, never from input. The index on the time column
    # finds the oldest rows; ctid deletes exactly those, LIMIT being unavailable on DELETE.
    return (
        f"DELETE FROM {retained.table} WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {retained.table} WHERE {retained.time_column} < :cutoff "
        f"ORDER BY {retained.time_column} LIMIT :limit))"
    )


async def prune(engine: AsyncEngine, retained: Retained, limits: RetentionLimits) -> int:
    """Delete what is past retention, batch by batch, at most one round's worth; returns the count."""
    statement = text(_delete_batch(retained))
    pruned = 0
    for _ in range(limits.batches_per_round_max):
        async with engine.begin() as connection:
            # The database's clock, the one that wrote the rows' times.
            now = await connection.scalar(text("SELECT now()"))
            result = await connection.execute(
                statement, {"cutoff": cutoff(now, retained), "limit": limits.batch_size_max}
            )
        deleted = int(getattr(result, "rowcount", 0) or 0)
        pruned += deleted
        if deleted < limits.batch_size_max:
            break
    return pruned


class Pruner:
    """The background worker: one round over every retained table, then a pause."""

    def __init__(
        self, *, service: str, engine: AsyncEngine, tables: Sequence[Retained], limits: RetentionLimits
    ) -> None:
        self._service = service
        self._engine = engine
        self._tables = tuple(tables)
        self._limits = limits

    async def run_round(self) -> dict[str, int]:
        pruned = {}
        for retained in self._tables:
            count = await prune(self._engine, retained, self._limits)
            PRUNED_ROWS.labels(self._service, retained.table).inc(count)
            pruned[retained.table] = count
            if count:
                _log.info("pruned %d rows of %s older than %s", count, retained.table, retained.retention)
        return pruned

    async def run(self) -> None:
        while True:
            await self.run_round()
            await asyncio.sleep(self._limits.interval_s)
