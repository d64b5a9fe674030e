"""The outbox publishes exactly what committed, in order, and never what rolled back; the inbox
lets each message id through once."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import OutgoingMessage, decode
from ledgerline.core.inbox import claim_new
from ledgerline.core.kafka import create_producer
from ledgerline.core.messaging_tables import outbox_table
from ledgerline.core.outbox import OutboxRelay
from ledgerline.infra.launcher import Infrastructure


async def _topic(bootstrap: str) -> str:
    name = f"test.outbox.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(name, 1, 1)])
    await admin.close()
    return name


async def _read(bootstrap: str, topic: str, count: int) -> list[OutgoingMessage | object]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found = []
    try:
        while len(found) < count:
            batch = await consumer.getmany(timeout_ms=5000)
            records = [r for part in batch.values() for r in part]
            if not records:
                break
            found += [decode(key=r.key, value=r.value, headers=list(r.headers)) for r in records]
    finally:
        await consumer.stop()
    return found


async def test_relay_publishes_committed_rows_in_order_and_empties_the_outbox(
    engine: AsyncEngine, infra: Infrastructure
) -> None:
    bootstrap = infra.kafka.bootstrap_servers
    topic = await _topic(bootstrap)
    sent = [OutgoingMessage(topic=topic, key="k", type="t.test", source="/tests", data={"n": n}) for n in range(25)]
    async with UnitOfWork(engine) as uow:
        uow.publish(*sent[:20])
        await uow.commit()
    async with UnitOfWork(engine) as uow:
        uow.publish(OutgoingMessage(topic=topic, key="k", type="t.rolled_back", source="/tests", data={}))
        # Leaving without commit rolls back the row with everything else.
    async with UnitOfWork(engine) as uow:
        uow.publish(*sent[20:])
        await uow.commit()
    producer = create_producer(bootstrap, "outbox-test")
    await producer.start()
    relay = OutboxRelay(
        service="test", engine=engine, producer=producer, listen_dsn="", batch_size_max=10, poll_interval_s=1
    )
    published = [await relay.publish_batch() for _ in range(4)]
    await producer.stop()
    assert published == [10, 10, 5, 0]
    received = await _read(bootstrap, topic, 25)
    assert [e.data["n"] for e in received] == list(range(25))  # type: ignore[attr-defined]
    assert [e.id for e in received] == [m.id for m in sent]  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(outbox_table)) == 0


async def test_inbox_claims_each_id_once(engine: AsyncEngine) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    async with engine.begin() as connection:
        assert await claim_new(connection, "c1", ids[:3] + ids[:1]) == set(ids[:3])
    async with engine.begin() as connection:
        assert await claim_new(connection, "c1", ids) == set(ids[3:])
        assert await claim_new(connection, "c2", ids[:2]) == set(ids[:2])
    async with engine.connect() as connection:
        await connection.begin()
        assert await claim_new(connection, "c1", ["rolled-back"]) == {"rolled-back"}
        await connection.rollback()
    async with engine.begin() as connection:
        assert await claim_new(connection, "c1", ["rolled-back"]) == {"rolled-back"}
