"""The batched consumer waits out transient failures without losing or dead-lettering anything,
sends only a message that keeps failing for its own reasons to the dead-letter topic, also when
that message travels inside a batch record with others, and keeps consuming when its group
rebalances or it is restarted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ledgerline.core.dead_letters import DLQ_ATTEMPT_COUNT
from ledgerline.core.events import Envelope, OutgoingMessage, decode, encode, encode_batch
from ledgerline.core.kafka import BatchConsumer, ConsumerLimits
from ledgerline.core.kafka_clients import create_producer
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
    await _consume_until(bootstrap, topic, handle, producer, lambda: sorted(applied) == [1, 2, 4], attempts_max=3)
    records = await _dead_letters(bootstrap, topic)
    assert len(records) == 1
    assert json.loads(records[0].value) == {"n": 3, "poison": True}
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
    await _consume_until(bootstrap, topic, handle, producer, lambda: sorted(applied) == [1, 3], attempts_max=2)
    received = await _dead_letters(bootstrap, topic)
    assert len(received) == 1
    letter = decode(key=received[0].key, value=received[0].value, headers=list(received[0].headers))
    # The dead letter is the failing event on its own, replayable as a plain record.
    assert (letter.id, letter.data, letter.key) == (messages[1].id, {"n": 2, "poison": True}, "k2")


async def _consume_until(
    bootstrap: str,
    topic: str,
    handle: Callable[[Sequence[Envelope]], Awaitable[None]],
    producer: AIOKafkaProducer,
    done: Callable[[], bool],
    *,
    attempts_max: int,
) -> None:
    """Run a consumer of `topic` until `done()`, then stop it and `producer`."""
    limits = ConsumerLimits(batch_size_max=10, poll_timeout_ms=100, attempts_max=attempts_max, retry_delay_s=0.05)
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
        assert await eventually(done, timeout_s=30), "the consumer never applied what it should"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()


async def _dead_letters(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    letters = AIOKafkaConsumer(dead_letter_topic(topic), bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await letters.start()
    try:
        return [r for part in (await letters.getmany(timeout_ms=5000)).values() for r in part]
    finally:
        await letters.stop()


async def _produce(bootstrap: str, topic: str, numbers: range, partitions: int) -> None:
    producer = create_producer(bootstrap, "consumer-test")
    await producer.start()
    try:
        for n in numbers:
            message = OutgoingMessage(topic=topic, key=str(n), type="t.test", source="/tests", data={"n": n})
            key, value, headers = encode(message)
            await (await producer.send(topic, value=value, key=key, headers=headers, partition=n % partitions))
    finally:
        await producer.stop()


async def test_a_member_keeps_consuming_when_the_group_rebalances_under_a_batch(infra: Infrastructure) -> None:
    """A second replica joins while the first applies a batch: the first carries on with the
    partitions it still owns (it used to die reading the lag of one it no longer owned), and the
    group applies every message (some twice, which the inbox absorbs in the services) and
    everything produced afterwards."""
    bootstrap = infra.kafka.bootstrap_servers
    topic = f"test.rebalance.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1), NewTopic(dead_letter_topic(topic), 2, 1)])
    await admin.close()
    group = f"g-{topic}"
    applied: list[int] = []
    second_joined = asyncio.Event()

    async def slow_first_batch(batch: Sequence[Envelope]) -> None:
        if not second_joined.is_set():
            # Hold the batch until the second member is in the group, so its offsets are
            # committed only after the partitions were reassigned.
            await asyncio.wait_for(second_joined.wait(), timeout=30)
            await asyncio.sleep(1.0)
        applied.extend(int(e.data["n"]) for e in batch)

    async def handle(batch: Sequence[Envelope]) -> None:
        applied.extend(int(e.data["n"]) for e in batch)

    producer = create_producer(bootstrap, "consumer-test")
    await producer.start()
    limits = ConsumerLimits(batch_size_max=10, poll_timeout_ms=100, attempts_max=3, retry_delay_s=0.05)
    members = [
        BatchConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            topics=[topic],
            handle_batch=h,
            producer=producer,
            limits=limits,
        )
        for h in (slow_first_batch, handle)
    ]
    tasks = [asyncio.create_task(members[0].run())]
    try:
        assert await eventually(members[0].started.is_set, timeout_s=30)
        await _produce(bootstrap, topic, range(0, 10), partitions=2)
        tasks.append(asyncio.create_task(members[1].run()))
        assert await eventually(members[1].started.is_set, timeout_s=30)
        second_joined.set()
        assert await eventually(lambda: set(applied) >= set(range(10)), timeout_s=30), applied
        await _produce(bootstrap, topic, range(10, 20), partitions=2)
        assert await eventually(lambda: set(applied) >= set(range(20)), timeout_s=30), applied
        assert not any(task.done() for task in tasks), [task.exception() for task in tasks if task.done()]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()


async def test_a_consumer_runs_again_after_it_stopped(infra: Infrastructure) -> None:
    """The supervisor restarts a crashed consumer by calling `run` again: it must rejoin."""
    bootstrap = infra.kafka.bootstrap_servers
    topic = f"test.restart.{uuid.uuid4().hex[:8]}"
    await _topics(bootstrap, topic)
    applied: list[int] = []

    async def handle(batch: Sequence[Envelope]) -> None:
        applied.extend(int(e.data["n"]) for e in batch)

    producer = create_producer(bootstrap, "consumer-test")
    await producer.start()
    limits = ConsumerLimits(batch_size_max=10, poll_timeout_ms=100, attempts_max=3)
    consumer = BatchConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        topics=[topic],
        handle_batch=handle,
        producer=producer,
        limits=limits,
    )
    try:
        for run, numbers in enumerate((range(0, 3), range(3, 6))):
            task = asyncio.create_task(consumer.run())
            await _produce(bootstrap, topic, numbers, partitions=1)
            wanted = set(numbers)
            assert await eventually(lambda: set(applied) >= wanted, timeout_s=30), (run, applied)  # noqa: B023  # Awaited within the iteration.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await producer.stop()
