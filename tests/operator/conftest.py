"""Fixtures for the operator tests: the brokers, unique topic names, real dead letters and
readers of whole topics. No Kubernetes API server is involved: status patches are collected
from the operator's report callback as plain dicts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ledgerline.core.dead_letters import dead_letter_headers
from ledgerline.core.events import OutgoingMessage, encode
from ledgerline.core.kafka_clients import create_producer, ensure_topics
from ledgerline.core.topics import TopicSpec, dead_letter_topic
from ledgerline.infra.launcher import Infrastructure
from tests.conftest import Stack

READ_TIMEOUT_S = 10.0
POLL_TIMEOUT_MS = 200


@pytest.fixture
def bootstrap(infra: Infrastructure) -> str:
    """The embedded broker (tansu)."""
    return infra.kafka.bootstrap_servers


@pytest.fixture
def apache_bootstrap(stacks: dict[str, Stack]) -> str:
    """Apache Kafka, for the admin requests tansu does not implement (CreatePartitions, AlterConfigs)."""
    return stacks["apache"].ensure_infra().kafka.bootstrap_servers


@pytest.fixture
def topic_name() -> str:
    return f"ledgerline.optest.{uuid.uuid4().hex[:10]}.v1"


@dataclass(frozen=True)
class Letter:
    """One dead letter to write: the original message plus why it failed."""

    key: str
    original_topic: str
    error: str = "TimeoutError: bank did not answer"
    first_failure: datetime = field(default_factory=lambda: datetime.now(UTC))
    ce_id: str = field(default_factory=lambda: str(uuid.uuid4()))


async def write_dead_letters(
    bootstrap: str, dlq: str, letters: Sequence[Letter], *, partitions: int = 1, batched: bool = False
) -> None:
    """Creates `dlq` and writes each letter as the BatchConsumer would: the original record's
    CloudEvents headers plus the dead-letter headers from the shared core. `batched` sends them
    all before waiting, so several share one record batch."""
    main_topics = {letter.original_topic for letter in letters}
    specs = [TopicSpec(name, partitions, dead_letters=False) for name in main_topics]
    specs.append(TopicSpec(dlq, partitions, dead_letters=False))
    await ensure_topics(bootstrap, specs)
    producer = create_producer(bootstrap, "optest-dead-letters")
    await producer.start()
    sent: list[asyncio.Future[Any]] = []
    try:
        for index, letter in enumerate(letters):
            message = OutgoingMessage(
                topic=letter.original_topic,
                key=letter.key,
                type="io.ledgerline.test.happened",
                source="/optest",
                data={"n": index},
                id=letter.ce_id,
            )
            key, value, headers = encode(message)
            headers += dead_letter_headers(
                topic=letter.original_topic,
                partition=0,
                offset=index,
                error=letter.error,
                attempts=5,
                first_failure=letter.first_failure,
            )
            sent.append(await producer.send(dlq, value=value, key=key, headers=headers))
            if not batched:
                await sent[-1]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record currently on `topic`, all partitions, from the beginning. "Currently" is the
    high watermark the fetches report: tansu's ListOffsets can fall short of it."""
    tps = [TopicPartition(topic, p) for p in range(await partition_count(bootstrap, topic))]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while [tp for tp in tps if not await _caught_up(consumer, tp)]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic} was not read to its high watermark in {READ_TIMEOUT_S} s")
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            records.extend(r for rs in batches.values() for r in rs)
        return records
    finally:
        await consumer.stop()


async def _caught_up(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
    highwater = consumer.highwater(tp)
    return highwater is not None and await consumer.position(tp) >= highwater


async def partition_count(bootstrap: str, topic: str) -> int:
    """Partitions of `topic` as the broker's metadata reports them (0 if it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # All topics: naming a missing one in a Metadata request would auto-create it.
        described = {t["topic"]: t for t in await admin.describe_topics(None)}
        return len(described[topic]["partitions"]) if topic in described else 0
    finally:
        await admin.close()


async def topic_names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    values = [raw.decode() for key, raw in record.headers or () if key == name]
    return values[-1] if values else None


class StatusLog:
    """The report callback: keeps every status the operator would have patched."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    async def __call__(self, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    @property
    def last(self) -> dict[str, Any]:
        return self.statuses[-1]


def dlq_of(topic: str) -> str:
    return dead_letter_topic(topic)
