"""Transactional outbox: rows written with the state change, published by `OutboxRelay`.

The relay publishes at least once, in id order, in batches. One relay per database holds a
transaction-scoped advisory lock while it publishes, so replicas never reorder a key's events.
`NOTIFY` on commit wakes it at once; a poll interval covers lost notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import BigInteger, any_, delete, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerline.core.events import BATCH_EVENTS_MAX, OutgoingMessage, encode, encode_batch
from ledgerline.core.messaging_tables import outbox_table
from ledgerline.core.topics import BATCHED_TOPICS

OUTBOX_CHANNEL = "ledgerline_outbox"
# Arbitrary constant shared by all replicas of one service (each service has its own database).
_RELAY_LOCK_ID = 0x1ED6E71E
# The backlog gauge counts at most this many waiting rows and reads this value beyond it: far
# above the chart's alert threshold (1,000), yet a count that costs little on every batch.
BACKLOG_COUNT_MAX = 10_000
_log = logging.getLogger(__name__)

OUTBOX_PUBLISHED = Counter(
    "ledgerline_outbox_published_total", "Outbox messages published to Kafka", ["service", "topic"]
)
OUTBOX_BACKLOG = Gauge(
    "ledgerline_outbox_backlog",
    f"Outbox messages waiting to be published, counted up to {BACKLOG_COUNT_MAX:,}",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "ledgerline_outbox_oldest_age_seconds",
    "How long the oldest outbox message still waiting has waited (0 when none waits)",
    ["service"],
)
OUTBOX_LAG = Histogram(
    "ledgerline_outbox_publish_lag_seconds",
    "Time from outbox insert to Kafka acknowledgement",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

__all__ = ["BACKLOG_COUNT_MAX", "OUTBOX_CHANNEL", "OutboxRelay", "outbox_rows", "outbox_table"]


def outbox_rows(messages: Iterable[OutgoingMessage]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": m.id,
            "topic": m.topic,
            "key": m.key,
            "type": m.type,
            "source": m.source,
            "time": m.time,
            "data": dict(m.data),
            "traceparent": m.traceparent,
        }
        for m in messages
    ]


def _message(row: Any) -> OutgoingMessage:
    return OutgoingMessage(
        topic=row.topic,
        key=row.key,
        type=row.type,
        source=row.source,
        data=row.data,
        id=row.event_id,
        time=row.time,
        traceparent=row.traceparent,
    )


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        listen_dsn: str,
        batch_size_max: int,
        poll_interval_s: float,
        backlog_count_max: int = BACKLOG_COUNT_MAX,
    ) -> None:
        self._service = service
        self._engine = engine
        self._producer = producer
        self._listen_dsn = listen_dsn
        self._batch_size_max = batch_size_max
        self._poll_interval_s = poll_interval_s
        self._backlog_count_max = backlog_count_max
        self._wakeup = asyncio.Event()
        # Series from the start: a rate over the run then counts the first events too.
        OUTBOX_BACKLOG.labels(service)
        OUTBOX_OLDEST_AGE.labels(service)
        OUTBOX_LAG.labels(service)
        self._partitioner = DefaultPartitioner()  # Kafka's own key hashing (murmur2).

    async def run(self) -> None:
        listener = await self._listen()
        try:
            while True:
                # Cleared before the batch is read, so a NOTIFY for a row committed while this
                # batch was being published wakes the next round at once instead of being lost.
                self._wakeup.clear()
                published = await self.publish_batch()
                if published == self._batch_size_max:
                    continue  # More is waiting: drain before sleeping.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_interval_s)
        finally:
            if listener is not None:
                await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            connection = await asyncpg.connect(self._listen_dsn)
            await connection.add_listener(OUTBOX_CHANNEL, lambda *_: self._wakeup.set())
            return connection
        except (OSError, asyncpg.PostgresError) as exc:
            _log.warning("outbox LISTEN unavailable, polling only: %s", exc)
            return None

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many messages were published."""
        async with self._engine.connect() as connection, connection.begin():
            locked = await connection.scalar(select(func.pg_try_advisory_xact_lock(_RELAY_LOCK_ID)))
            if not locked:
                return 0
            rows = (
                await connection.execute(select(outbox_table).order_by(outbox_table.c.id).limit(self._batch_size_max))
            ).all()
            if not rows:
                OUTBOX_BACKLOG.labels(self._service).set(0)
                OUTBOX_OLDEST_AGE.labels(self._service).set(0)
                return 0
            # Set before sending: while the broker refuses every batch, the age still grows. The
            # lowest id is the oldest row: ids are taken at insert (the primary key's index).
            self._set_oldest_age(rows[0].created_at)
            await self._send_all([_message(row) for row in rows])
            # Exactly the rows sent, never a range: ids are taken at insert, not at commit, so a
            # row below the batch's last id can commit while the sends wait for acknowledgements.
            sent_ids = literal([row.id for row in rows], ARRAY(BigInteger))
            await connection.execute(delete(outbox_table).where(outbox_table.c.id == any_(sent_ids)))
            backlog, oldest = await self._waiting(connection)
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        self._set_oldest_age(oldest)
        now = time.time()
        for row in rows:
            OUTBOX_PUBLISHED.labels(self._service, row.topic).inc()
            OUTBOX_LAG.labels(self._service).observe(max(0.0, now - row.created_at.timestamp()))
        return len(rows)

    def _set_oldest_age(self, created_at: datetime | None) -> None:
        age_s = 0.0 if created_at is None else max(0.0, time.time() - created_at.timestamp())
        OUTBOX_OLDEST_AGE.labels(self._service).set(age_s)

    async def _waiting(self, connection: AsyncConnection) -> tuple[int, datetime | None]:
        """Rows still waiting, counted up to `backlog_count_max`, and the oldest one's insert
        time, in one round trip of the relay's transaction.

        Counted after this batch's delete, so the batch is already gone from the count. The
        bound keeps it cheap when the relay is furthest behind: an unbounded `count(*)` per batch
        reads the whole backlog once for every batch while draining it.
        """
        waiting = select(literal(1)).select_from(outbox_table).limit(self._backlog_count_max).subquery()
        count = select(func.count()).select_from(waiting).scalar_subquery()
        oldest = select(outbox_table.c.created_at).order_by(outbox_table.c.id).limit(1).scalar_subquery()
        row = (await connection.execute(select(count, oldest))).one()
        return int(row[0] or 0), row[1]

    async def _send_all(self, messages: list[OutgoingMessage]) -> None:
        # Queue the whole batch first so the producer packs it into few requests, then wait.
        pending = []
        together: dict[tuple[str, int], list[OutgoingMessage]] = {}
        for message in messages:
            if message.topic in BATCHED_TOPICS:
                # The partition the key would pick, so one key's events stay in one partition, in order.
                partition = await self._partition_of(message)
                together.setdefault((message.topic, partition), []).append(message)
                continue
            key, value, headers = encode(message)
            pending.append(await self._producer.send(message.topic, value=value, key=key, headers=headers))
        for (topic, partition), group in together.items():
            for start in range(0, len(group), BATCH_EVENTS_MAX):
                value, headers = encode_batch(group[start : start + BATCH_EVENTS_MAX])
                pending.append(await self._producer.send(topic, value=value, partition=partition, headers=headers))
        await asyncio.gather(*pending)

    async def _partition_of(self, message: OutgoingMessage) -> int:
        partitions = sorted(await self._producer.partitions_for(message.topic))
        return int(self._partitioner(message.key.encode(), partitions, partitions))
