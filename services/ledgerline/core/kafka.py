"""The batched Kafka consumer every service runs, with its metrics and dead-lettering.

The producer and topic creation live in `core/kafka_clients.py` and the dead-letter headers in
`core/dead_letters.py`, so the operator can use them without this module's metrics and decoding.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import Counter, Gauge, Histogram

from ledgerline.core.dead_letters import dead_letter_headers
from ledgerline.core.events import Envelope, MalformedMessage, as_outgoing, decode, encode, expand
from ledgerline.core.kafka_clients import REQUEST_TIMEOUT_MS
from ledgerline.core.topics import dead_letter_topic
from ledgerline.core.transient import is_transient

_log = logging.getLogger(__name__)

CONSUMED = Counter("ledgerline_consumer_records_total", "Records consumed", ["group", "topic", "outcome"])
CONSUMER_LAG = Gauge("ledgerline_consumer_lag", "Records behind the log end", ["group", "topic", "partition"])
BATCH_SECONDS = Histogram(
    "ledgerline_consumer_batch_seconds",
    "Time to apply one consumed batch",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "ledgerline_consumer_batch_size",
    "Records per consumed batch",
    ["group"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
COMMITS_LOST = Counter(
    "ledgerline_consumer_commits_lost_total",
    "Batches applied whose offsets could not be committed because the group rebalanced",
    ["group"],
)
DEAD_LETTERED = Counter("ledgerline_dead_letters_total", "Records sent to a dead-letter topic", ["group", "topic"])


@dataclass(frozen=True, slots=True)
class ConsumerLimits:
    batch_size_max: int
    poll_timeout_ms: int
    attempts_max: int
    fetch_max_wait_ms: int = 500
    fetch_min_bytes: int = 1
    retry_delay_s: float = 0.2
    transient_delay_max_s: float = 10.0


BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]


class BatchConsumer:
    """Reads batches, hands each to `handle_batch` (one transaction), commits offsets after.

    A batch that fails is retried whole, then split into single messages so one poison message
    cannot block the rest; a message that still fails after `attempts_max` goes to its topic's
    dead-letter topic with headers saying where it came from and why. Nothing is dropped.
    Transient failures (database or broker unreachable, deadlocks) never count as attempts: the
    consumer waits them out, because a saga command is not bad just because PostgreSQL restarted.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handle_batch: BatchHandler,
        producer: AIOKafkaProducer,
        limits: ConsumerLimits,
    ) -> None:
        self._group_id = group_id
        self._topics = list(topics)
        self._handle_batch = handle_batch
        self._producer = producer
        self._limits = limits
        self._bootstrap_servers = bootstrap_servers
        # Series from the start, at zero: a panel of a healthy consumer shows 0, not "No data",
        # and a rate over the run counts the first batches too.
        COMMITS_LOST.labels(group_id)
        BATCH_SECONDS.labels(group_id)
        BATCH_SIZE.labels(group_id)
        for topic in self._topics:
            DEAD_LETTERED.labels(group_id, topic)
        # Made by each run(): a stopped aiokafka consumer cannot start again.
        self._consumer: AIOKafkaConsumer
        # Set once the group has completed its first assignment (possibly empty, when there are
        # more replicas than partitions): readiness means "joined", not "connected".
        self.started = asyncio.Event()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._limits.batch_size_max,
            fetch_max_wait_ms=self._limits.fetch_max_wait_ms,
            fetch_min_bytes=self._limits.fetch_min_bytes,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )

    async def run(self) -> None:
        # The service runs this again after a crash (a broker restarted without its memory, say);
        # a fresh client rejoins the group from the committed offsets, or the earliest ones.
        self._consumer = self._new_consumer()
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=_JoinListener(self.started))
        try:
            while True:
                batches = await self._consumer.getmany(
                    timeout_ms=self._limits.poll_timeout_ms,
                    max_records=self._limits.batch_size_max,
                )
                records = [record for part in batches.values() for record in part]
                if not records:
                    continue
                started = time.perf_counter()
                await self._apply(records)
                await self._commit()
                BATCH_SECONDS.labels(self._group_id).observe(time.perf_counter() - started)
                BATCH_SIZE.labels(self._group_id).observe(len(records))
                await self._record_lag(list(batches))
        finally:
            await self._consumer.stop()

    async def _commit(self) -> None:
        """Commit the batch's offsets, unless the group moved its partitions meanwhile.

        With several members (replicas), a member that joins or dies rebalances the group, and a
        batch applied across that moment can no longer be committed. Its messages go again to
        the partitions' new owner, whose inbox skips what this batch applied; this member keeps
        consuming what it now owns. Stopping here instead would take it out of the group.
        """
        try:
            await self._consumer.commit()
        except (CommitFailedError, IllegalStateError) as exc:
            COMMITS_LOST.labels(self._group_id).inc()
            _log.warning("%s: batch applied but not committed, partitions moved: %s", self._group_id, exc)

    async def _record_lag(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            # A rebalance may have moved the partition since it was read (aiokafka asserts it is
            # assigned); its new owner reports the lag.
            if tp not in self._consumer.assignment():
                continue
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await self._consumer.position(tp)
            except IllegalStateError:
                continue
            CONSUMER_LAG.labels(self._group_id, tp.topic, str(tp.partition)).set(max(0, highwater - position))

    async def _apply(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        events: list[tuple[Envelope, ConsumerRecord[bytes, bytes]]] = []
        for record in records:
            try:
                events.extend((envelope, record) for envelope in expand(_decode(record)))
            except MalformedMessage as exc:
                await self._dead_letter(record, exc, attempts=1, first_failure=datetime.now(UTC))
        # A record may carry many events: a transaction takes at most `batch_size_max` of them.
        size = self._limits.batch_size_max
        for start in range(0, len(events), size):
            await self._apply_events(events[start : start + size])

    async def _apply_events(self, events: list[tuple[Envelope, ConsumerRecord[bytes, bytes]]]) -> None:
        envelopes = [envelope for envelope, _ in events]
        if await self._attempt(envelopes, self._limits.attempts_max):
            self._count(envelopes, "processed")
            return
        for envelope, record in events:
            first_failure = datetime.now(UTC)
            error = await self._attempt_one(envelope)
            if error is None:
                self._count([envelope], "processed")
            else:
                await self._dead_letter(
                    record, error, attempts=self._limits.attempts_max, first_failure=first_failure, event=envelope
                )

    async def _attempt(self, envelopes: Sequence[Envelope], attempts: int) -> bool:
        return await self._try(envelopes, attempts) is None

    async def _attempt_one(self, envelope: Envelope) -> Exception | None:
        return await self._try([envelope], self._limits.attempts_max)

    async def _try(self, envelopes: Sequence[Envelope], attempts: int) -> Exception | None:
        """None once `handle_batch` succeeds; the last error after `attempts` non-transient failures."""
        attempt, waited_s = 0, 0.0
        while True:
            try:
                await self._handle_batch(envelopes)
                return None
            except Exception as exc:
                if is_transient(exc):
                    waited_s = min(max(waited_s * 2, self._limits.retry_delay_s), self._limits.transient_delay_max_s)
                    _log.warning("%s: transient failure, retrying in %.1fs: %s", self._group_id, waited_s, exc)
                    CONSUMED.labels(self._group_id, envelopes[0].topic, "transient_failure").inc()
                    await asyncio.sleep(waited_s)
                    continue
                attempt += 1
                _log.exception(
                    "%s: %d message(s) failed (attempt %d/%d)", self._group_id, len(envelopes), attempt, attempts
                )
                if attempt >= attempts:
                    return exc
                await asyncio.sleep(self._limits.retry_delay_s * attempt)

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        error: Exception,
        *,
        attempts: int,
        first_failure: datetime,
        event: Envelope | None = None,
    ) -> None:
        """Send the record, or the one failing event of a batch record, to the dead-letter topic."""
        key, value, original = record.key, record.value, list(record.headers or ())
        if event is not None and not event.raw_value:
            key, value, original = encode(as_outgoing(event))
        headers = original + dead_letter_headers(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=f"{type(error).__name__}: {error}",
            attempts=attempts,
            first_failure=first_failure,
        )
        target = dead_letter_topic(record.topic)
        await (await self._producer.send(target, value=value, key=key, headers=headers))
        DEAD_LETTERED.labels(self._group_id, record.topic).inc()
        CONSUMED.labels(self._group_id, record.topic, "dead_lettered").inc()
        _log.error(
            "%s: dead-lettered %s[%d]@%d: %s", self._group_id, record.topic, record.partition, record.offset, error
        )

    def _count(self, envelopes: Sequence[Envelope], outcome: str) -> None:
        for envelope in envelopes:
            CONSUMED.labels(self._group_id, envelope.topic, outcome).inc()


class _JoinListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no stubs.
    def __init__(self, joined: asyncio.Event) -> None:
        self._joined = joined

    async def on_partitions_revoked(self, revoked: object) -> None:
        pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        self._joined.set()


def _decode(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    return decode(
        key=record.key,
        value=record.value,
        headers=list(record.headers or ()),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )
