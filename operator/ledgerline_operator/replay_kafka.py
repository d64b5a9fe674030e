"""Kafka for a replay: topic layout, offsets, bounded reads of partition ranges, and sends.

The consumer has no group and commits nothing: a replay's position lives in the resource's
status, not in Kafka. Every error comes out as `BrokerUnavailable` or `TopicRejected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from ledgerline.core.kafka_clients import REQUEST_TIMEOUT_MS, create_producer
from ledgerline_operator.kafka_errors import CONNECT_TIMEOUT_S, BrokerUnavailable, guarded
from ledgerline_operator.topic_admin import TopicAdmin

SCAN_BATCH_RECORDS_MAX = 500
SCAN_POLL_TIMEOUT_MS = 500
# Records below a captured end offset must arrive; a read that stalls this long means trouble.
SCAN_STALL_TIMEOUT_S = 30.0

Ranges = Mapping[TopicPartition, tuple[int, int | None]]


class ReplayKafka:
    """`async with ReplayKafka(servers, client_id, produce=...) as kafka:`."""

    def __init__(self, bootstrap_servers: str, client_id: str, *, produce: bool) -> None:
        self._admin = TopicAdmin(bootstrap_servers)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_uncommitted",
            max_poll_records=SCAN_BATCH_RECORDS_MAX,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )
        self._producer = create_producer(bootstrap_servers, client_id) if produce else None
        self._pending: list[asyncio.Future[Any]] = []

    async def __aenter__(self) -> ReplayKafka:
        await self._admin.__aenter__()
        try:
            await guarded("start consumer", lambda: asyncio.wait_for(self._consumer.start(), CONNECT_TIMEOUT_S))
            if self._producer is not None:
                producer = self._producer
                await guarded("start producer", lambda: asyncio.wait_for(producer.start(), CONNECT_TIMEOUT_S))
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        await self._consumer.stop()
        await self._admin.__aexit__()

    async def partition_count(self, topic: str) -> int | None:
        """How many partitions `topic` has, or None if it does not exist."""
        return (await self.partition_counts([topic])).get(topic)

    async def partition_counts(self, topics: Sequence[str] | None = None) -> dict[str, int]:
        """{topic: partition count} of the `topics` that exist (of every topic when None)."""
        return {name: count for name, (count, _replicas) in (await self._admin.layout(topics)).items()}

    async def offsets(self, topic: str, count: int) -> tuple[dict[int, int], dict[int, int]]:
        """({partition: log start offset}, {partition: end offset}) of the topic's partitions.

        The end is the high watermark of a fetch, read from one record before the end that
        ListOffsets reports: tansu answers ListOffsets with the base offset of the last batch
        plus one, short of the true end when that batch holds several records. A partition whose
        listed end is not past its start holds no batch and is not read. Reassigns the consumer,
        so it is not for use while a `read` is in progress.
        """
        begin, listed = await self._listed_offsets(topic, count)
        ranges = {
            TopicPartition(topic, p): (max(begin[p], listed[p] - 1), None) for p in range(count) if listed[p] > begin[p]
        }
        ends = dict(listed)
        async with contextlib.aclosing(self.read(ranges)) as batches:
            async for records in batches:
                for record in records:
                    ends[record.partition] = max(ends[record.partition], record.offset + 1)
        for tp in ranges:
            ends[tp.partition] = max(ends[tp.partition], self._consumer.highwater(tp) or 0)
        return begin, ends

    async def _listed_offsets(self, topic: str, count: int) -> tuple[dict[int, int], dict[int, int]]:
        tps = [TopicPartition(topic, p) for p in range(count)]
        begin = await guarded("beginning offsets", lambda: self._consumer.beginning_offsets(tps))
        end = await guarded("end offsets", lambda: self._consumer.end_offsets(tps))
        return {tp.partition: begin[tp] for tp in tps}, {tp.partition: end[tp] for tp in tps}

    async def end_offsets_floor(self, topic: str) -> dict[int, int] | None:
        """End offsets that are never above the true ones (ListOffsets; see `offsets`), or None if
        the topic does not exist. Safe while a `read` is in progress."""
        count = await self.partition_count(topic)
        return None if count is None else (await self._listed_offsets(topic, count))[1]

    async def read(self, ranges: Ranges) -> AsyncGenerator[list[ConsumerRecord[bytes, bytes]], None]:
        """Yields the records in [start, end) of each partition, in order within a partition, and
        stops once every partition is read to its end; an end of None means the partition's high
        watermark as the fetches report it (everything there now)."""
        todo = {tp: bounds for tp, bounds in ranges.items() if bounds[1] is None or bounds[0] < bounds[1]}
        if not todo:
            return
        self._consumer.assign(list(todo))
        for tp, (start, _) in todo.items():
            self._consumer.seek(tp, start)
        last_progress = time.monotonic()
        while todo:
            batches = await guarded(
                "fetch",
                lambda: self._consumer.getmany(
                    *todo, timeout_ms=SCAN_POLL_TIMEOUT_MS, max_records=SCAN_BATCH_RECORDS_MAX
                ),
            )
            records = [r for tp, rs in batches.items() if tp in todo for r in rs if _below(r.offset, todo[tp][1])]
            finished = [tp for tp in todo if await self._reached_end(tp, todo[tp][1])]
            for tp in finished:
                self._consumer.pause(tp)
                del todo[tp]
            if batches or finished:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > SCAN_STALL_TIMEOUT_S:
                stuck = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in todo)
                raise BrokerUnavailable(f"no records arrived for {SCAN_STALL_TIMEOUT_S:.0f} s from {stuck}")
            if records:
                yield records

    async def _reached_end(self, tp: TopicPartition, end: int | None) -> bool:
        position: int = await guarded("position", functools.partial(self._consumer.position, tp))
        if end is None:
            highwater = self._consumer.highwater(tp)
            return highwater is not None and position >= highwater
        return position >= end

    async def send(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """Queues one record; `flush` waits until every queued record is acknowledged."""
        if self._producer is None:
            raise RuntimeError("this ReplayKafka was opened without a producer (dry run)")
        producer = self._producer
        future = await guarded(
            f"send to {topic}", lambda: producer.send(topic, value=value, key=key, headers=list(headers))
        )
        self._pending.append(future)

    async def flush(self) -> dict[TopicPartition, int]:
        """Waits for every queued record; returns, per partition written, the offset after the
        last one acknowledged (a floor for where later sends will land)."""
        pending, self._pending = self._pending, []
        if not pending:
            return {}
        acknowledged = await guarded("acknowledgements", lambda: asyncio.gather(*pending))
        after: dict[TopicPartition, int] = {}
        for meta in acknowledged:
            tp = TopicPartition(meta.topic, meta.partition)
            after[tp] = max(after.get(tp, 0), meta.offset + 1)
        return after


def _below(offset: int, end: int | None) -> bool:
    return end is None or offset < end
