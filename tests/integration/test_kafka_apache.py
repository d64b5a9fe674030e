"""A real Apache Kafka broker started by ApacheKafka round-trips keyed messages through a
consumer group that commits, each message arriving exactly once; SIGKILLed twice in a row, it
comes back each time with every message it acknowledged."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from ledgerline.core.kafka_clients import create_producer, ensure_topics
from ledgerline.core.topics import TopicSpec
from ledgerline.infra.kafka_apache import ApacheKafka
from ledgerline.infra.process import free_port

pytestmark = pytest.mark.apache

TOPIC = "ledgerline.test.apache.v1"
PARTITIONS = 3
MESSAGES = 20
CONSUME_TIMEOUT_S = 60.0
POLL_TIMEOUT_MS = 1000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ApacheKafka]:
    kafka = ApacheKafka(tmp_path / "kafka", free_port())
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()


async def produce(bootstrap_servers: str) -> list[bytes]:
    producer = create_producer(bootstrap_servers, "apache-test-producer")
    await producer.start()
    try:
        values = [f"value-{i}".encode() for i in range(MESSAGES)]
        for i, value in enumerate(values):
            await producer.send_and_wait(TOPIC, value, key=f"key-{i % 7}".encode())
        return values
    finally:
        await producer.stop()


async def consume_all(consumer: AIOKafkaConsumer) -> list[bytes]:
    received: list[bytes] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while len(received) < MESSAGES and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
        for records in batches.values():
            received.extend(record.value for record in records if record.value is not None)
        if batches:
            await consumer.commit()
    return received


async def test_keyed_messages_round_trip_through_a_consumer_group(broker: ApacheKafka) -> None:
    servers = broker.bootstrap_servers
    created = await ensure_topics(servers, [TopicSpec(TOPIC, PARTITIONS, dead_letters=False)])
    assert created == [TOPIC]
    sent = await produce(servers)

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=servers,
        group_id="apache-test-group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        received = await consume_all(consumer)
        partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        committed = [await consumer.committed(tp) or 0 for tp in partitions]
    finally:
        await consumer.stop()

    assert Counter(received) == Counter(sent)  # Every value once: none lost, none repeated.
    assert sum(committed) == MESSAGES  # The group's commits cover everything it read.


async def read_back(servers: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=servers, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        received: list[bytes] = []
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while len(received) < 2 * MESSAGES and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            received.extend(r.value for records in batches.values() for r in records if r.value is not None)
        return received
    finally:
        await consumer.stop()


async def test_a_broker_killed_twice_in_a_row_comes_back_with_every_message(broker: ApacheKafka) -> None:
    servers = broker.bootstrap_servers
    await ensure_topics(servers, [TopicSpec(TOPIC, PARTITIONS, dead_letters=False)])
    sent = await produce(servers)
    assert broker.process is not None
    broker.process.kill()  # SIGKILL: no clean shutdown, the next start recovers its logs.
    await asyncio.to_thread(broker.start)
    sent += await produce(servers)
    broker.process.kill()  # Again, right after it came back.
    await asyncio.to_thread(broker.start)
    assert Counter(await read_back(servers)) == Counter(sent)  # Both rounds, each value once.
