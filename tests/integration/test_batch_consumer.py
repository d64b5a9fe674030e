"""The batched consumer waits out transient failures without losing or dead-lettering anything,
sends only a message that keeps failing for its own reasons to the dead-letter topic, also when
that message travels inside a batch record with others, and runs again after it stopped, as a
service restarts a crashed consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ledgerline.core.events import Envelope, OutgoingMessage, decode, encode, encode_batch
from ledgerline.core.kafka import DLQ_ATTEMPT_COUNT, BatchConsumer, ConsumerLimits, create_producer
from ledgerline.core.topics import dead_letter_topic
from ledgerline.core.transient import is_transient
from ledgerline.infra.launcher import Infrastructure
from tests.polling import eventually


async def _topics(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(name, 1, 1), NewTopic(dead_letter_topic(name), 1, 1)])
    await admin.close()


def test_transient_errors_are_recognised_through_wrapping() -> None:
    class FakeDriverError(Exception):
        sqlstate = "40P01"  # deadlock_detected

    wrapped = RuntimeError("statement failed")
    wrapped.__cause__ = FakeDriverError()
    assert is_transient(wrapped)
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(ValueError("bad amount"))


async def test_waits_out_outages_and_dead_letters_only_poison(infra: Infrastructure) -> None:
    bootstrap = infra.kafka.bootstrap_servers
    topic = f"test.consumer.{uuid.uuid4().hex[:8]}"
    await _topics(bootstrap, topic)
    outage_calls_left = 4
    applied: list[int] = []

    async def handle(batch: Sequence[Envelope]) -> None:
        nonlocal outage_calls_left
        if outage_calls_left:
            outage_calls_left -= 1
            raise ConnectionRefusedError("database restarting")
        if any(e.data.get("poison") for e in batch):
            raise ValueError("this message can never be applied")
        applied.extend(int(e.data["n"]) for e in batch)

    producer = create_producer(bootstrap, "consumer-test")
    await producer.start()
    bodies = [{"n": 1}, {"n": 2}, {"n": 3, "poison": True}, {"n": 4}]
    for body in bodies:
        key, value, headers = encode(OutgoingMessage(topic=topic, key="k", type="t.test", source="/tests", data=body))
        await (await producer.send(topic, value=value, key=key, headers=headers))
    limits = ConsumerLimits(batch_size_max=10, poll_timeout_ms=100, attempts_max=3, retry_delay_s=0.05)
    consumer = BatchConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        topics=[topic],
        handle_batch=handle,
        producer=producer,
        limits=limits,
    )
    task = asyncio.create_task(consumer.run())
    try:
        assert await eventually(lambda: sorted(applied) == [1, 2, 4], timeout_s=30), applied
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
    letters = AIOKafkaConsumer(dead_letter_topic(topic), bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await letters.start()
    try:
        batch = await letters.getmany(timeout_ms=5000)
    finally:
        await letters.stop()
    records = [r for part in batch.values() for r in part]
    assert len(records) == 1
    assert b'"poison": true' in records[0].value
    assert dict(records[0].headers)[DLQ_ATTEMPT_COUNT] == b"3"


async def test_a_poison_event_in_a_batch_record_is_dead_lettered_alone(infra: Infrastructure) -> None:
    bootstrap = infra.kafka.bootstrap_servers
    topic = f"test.batched.{uuid.uuid4().hex[:8]}"
    await _topics(bootstrap, topic)
    applied: list[int] = []

    async def handle(batch: Sequence[Envelope]) -> None:
        if any(e.data.get("poison") for e in batch):
            raise ValueError("this event can never be applied")
        applied.extend(int(e.data["n"]) for e in batch)

    producer = create_producer(bootstrap, "batched-test")
    await producer.start()
    bodies = [{"n": 1}, {"n": 2, "poison": True}, {"n": 3}]
    messages = [OutgoingMessage(topic=topic, key=f"k{b['n']}", type="t.test", source="/tests", data=b) for b in bodies]
    value, headers = encode_batch(messages)
    await (await producer.send(topic, value=value, partition=0, headers=headers))
    limits = ConsumerLimits(batch_size_max=10, poll_timeout_ms=100, attempts_max=2, retry_delay_s=0.05)
    consumer = BatchConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        topics=[topic],
        handle_batch=handle,
        producer=producer,
        limits=limits,
    )
    task = asyncio.create_task(consumer.run())
    try:
        assert await eventually(lambda: sorted(applied) == [1, 3], timeout_s=30), applied
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
    letters = AIOKafkaConsumer(dead_letter_topic(topic), bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await letters.start()
    try:
        received = [r for part in (await letters.getmany(timeout_ms=5000)).values() for r in part]
    finally:
        await letters.stop()
    assert len(received) == 1
    letter = decode(key=received[0].key, value=received[0].value, headers=list(received[0].headers))
    # The dead letter is the failing event on its own, replayable as a plain record.
    assert (letter.id, letter.data, letter.key) == (messages[1].id, {"n": 2, "poison": True}, "k2")


async def test_runs_again_after_it_stopped(infra: Infrastructure) -> None:
    bootstrap = infra.kafka.bootstrap_servers
    topic = f"test.consumer.{uuid.uuid4().hex[:8]}"
    await _topics(bootstrap, topic)
    applied: list[int] = []

    async def handle(batch: Sequence[Envelope]) -> None:
        applied.extend(int(e.data["n"]) for e in batch)

    producer = create_producer(bootstrap, "consumer-test")
    await producer.start()

    async def send(n: int) -> None:
        key, value, headers = encode(
            OutgoingMessage(topic=topic, key="k", type="t.test", source="/tests", data={"n": n})
        )
        await (await producer.send(topic, value=value, key=key, headers=headers))

    limits = ConsumerLimits(batch_size_max=10, poll_timeout_ms=100, attempts_max=3, retry_delay_s=0.05)
    consumer = BatchConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        topics=[topic],
        handle_batch=handle,
        producer=producer,
        limits=limits,
    )
    try:
        for n in (1, 2):
            await send(n)
            # The service's worker loop calls run() again after a crash; it must not refuse.
            task = asyncio.create_task(consumer.run())
            try:
                assert await eventually(lambda n=n: applied == list(range(1, n + 1)), timeout_s=30), applied
            finally:
                task.cancel()
                results = await asyncio.gather(task, return_exceptions=True)
            assert not [r for r in results if not isinstance(r, asyncio.CancelledError)], results
    finally:
        await producer.stop()
