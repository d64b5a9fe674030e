"""The outbox publishes exactly what committed, in order, never what rolled back, and never
deletes a row it did not publish, even one that committed after the relay's select; a message
written again while it still waits (a re-sent saga step) is kept once without failing the
transaction; its backlog gauge counts what still waits, and its oldest-age gauge says how long
the oldest message has waited, also while nothing can be sent; the inbox lets each message id through once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope, OutgoingMessage, decode
from ledgerline.core.inbox import claim_new
from ledgerline.core.kafka_clients import create_producer
from ledgerline.core.messaging_tables import outbox_table
from ledgerline.core.outbox import OutboxRelay, outbox_rows
from ledgerline.infra.launcher import Infrastructure

HOUR_S = 3_600


async def _topic(bootstrap: str) -> str:
    name = f"test.outbox.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(name, 1, 1)])
    await admin.close()
    return name


async def _read(bootstrap: str, topic: str, count: int) -> list[Envelope]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[Envelope] = []
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


def _backlog(service: str) -> float | None:
    return REGISTRY.get_sample_value("ledgerline_outbox_backlog", {"service": service})


def _oldest_age(service: str) -> float:
    return REGISTRY.get_sample_value("ledgerline_outbox_oldest_age_seconds", {"service": service}) or 0.0


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
    assert [e.data["n"] for e in received] == list(range(25))
    assert [e.id for e in received] == [m.id for m in sent]
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(outbox_table)) == 0


class _RelayWithCommitDuringSend(OutboxRelay):
    """The real relay, with `during_send` run once, after its first select and before its delete.

    The relay waits for Kafka acknowledgements between the two, which is where a transaction
    that took a lower id can commit in production; the hook puts that commit there every time.
    """

    def __init__(self, during_send: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._during_send: Callable[[], Awaitable[None]] | None = during_send

    async def _send_all(self, messages: list[OutgoingMessage]) -> None:
        await super()._send_all(messages)
        hook, self._during_send = self._during_send, None
        if hook is not None:
            await hook()


async def test_relay_keeps_a_row_that_committed_after_its_select(engine: AsyncEngine, infra: Infrastructure) -> None:
    bootstrap = infra.kafka.bootstrap_servers
    topic = await _topic(bootstrap)
    late, early = (OutgoingMessage(topic=topic, key="k", type="t.test", source="/tests", data={}) for _ in range(2))
    # The late transaction inserts first, so it holds the lower id, and stays open.
    late_connection = await engine.connect()
    late_transaction = await late_connection.begin()
    insert_late = outbox_table.insert().values(outbox_rows([late])).returning(outbox_table.c.id)
    late_id = (await late_connection.execute(insert_late)).scalar_one()
    async with UnitOfWork(engine) as uow:
        uow.publish(early)
        await uow.commit()
    async with engine.connect() as connection:
        visible = (await connection.execute(select(outbox_table.c.event_id, outbox_table.c.id))).all()
    # What the relay's select will see: only the early row, with the higher id.
    assert [(row.event_id, row.id > late_id) for row in visible] == [(early.id, True)]

    async def commit_late() -> None:
        await late_transaction.commit()
        await late_connection.close()

    producer = create_producer(bootstrap, "outbox-race-test")
    await producer.start()
    service = f"race-{uuid.uuid4().hex[:6]}"
    relay = _RelayWithCommitDuringSend(
        commit_late,
        service=service,
        engine=engine,
        producer=producer,
        listen_dsn="",
        batch_size_max=10,
        poll_interval_s=1,
    )
    try:
        assert await relay.publish_batch() == 1
        assert not late_transaction.is_active  # The hook ran: the late row committed mid-batch.
        async with engine.connect() as connection:
            waiting = set((await connection.execute(select(outbox_table.c.event_id))).scalars())
        published = {e.id for e in await _read(bootstrap, topic, 1)}
        lost = {late.id, early.id} - waiting - published
        assert not lost, f"deleted from the outbox without being published: {sorted(lost)}"
        assert _backlog(service) == 1  # The late row, counted in the relay's own transaction.
        # The next batch publishes the late row; nothing is left behind.
        assert await relay.publish_batch() == 1
    finally:
        await producer.stop()
        await late_connection.close()  # Already closed unless the relay failed before the hook.
    received = await _read(bootstrap, topic, 2)
    assert sorted(e.id for e in received) == sorted([late.id, early.id])


async def test_backlog_gauge_counts_what_waits_up_to_its_bound(engine: AsyncEngine, infra: Infrastructure) -> None:
    bootstrap = infra.kafka.bootstrap_servers
    topic = await _topic(bootstrap)
    async with UnitOfWork(engine) as uow:
        uow.publish(
            *(OutgoingMessage(topic=topic, key="k", type="t.test", source="/tests", data={}) for _ in range(25))
        )
        await uow.commit()
    producer = create_producer(bootstrap, "outbox-gauge-test")
    await producer.start()
    service = f"gauge-{uuid.uuid4().hex[:6]}"
    relay = OutboxRelay(
        service=service,
        engine=engine,
        producer=producer,
        listen_dsn="",
        batch_size_max=10,
        poll_interval_s=1,
        backlog_count_max=12,
    )
    try:
        published, backlog = [], []
        for _ in range(4):
            published.append(await relay.publish_batch())
            backlog.append(_backlog(service))
    finally:
        await producer.stop()
    assert published == [10, 10, 5, 0]
    # 15 wait after the first batch, read as the bound (12); then 5, then none.
    assert backlog == [12, 5, 0, 0]


class _BrokerDown(OutboxRelay):
    """The real relay, whose every send fails as it does while the broker is unreachable."""

    async def _send_all(self, messages: list[OutgoingMessage]) -> None:
        raise OSError("broker unreachable")


async def test_oldest_age_gauge_says_how_long_the_oldest_message_waited(
    engine: AsyncEngine, infra: Infrastructure
) -> None:
    bootstrap = infra.kafka.bootstrap_servers
    topic = await _topic(bootstrap)
    async with UnitOfWork(engine) as uow:
        uow.publish(
            *(OutgoingMessage(topic=topic, key="k", type="t.test", source="/tests", data={}) for _ in range(15))
        )
        await uow.commit()
    async with engine.begin() as connection:
        backdated = outbox_table.update().where(outbox_table.c.topic == topic)
        await connection.execute(backdated.values(created_at=func.now() - text("interval '1 hour'")))
    service = f"age-{uuid.uuid4().hex[:6]}"
    options: dict[str, Any] = {"service": service, "engine": engine, "listen_dsn": "", "poll_interval_s": 1}
    with pytest.raises(OSError):
        await _BrokerDown(producer=None, batch_size_max=10, **options).publish_batch()  # type: ignore[arg-type]  # Never sends.
    # Nothing could be sent, and the gauge still says the oldest message has waited an hour.
    assert _oldest_age(service) >= HOUR_S
    producer = create_producer(bootstrap, "outbox-age-test")
    await producer.start()
    relay = OutboxRelay(producer=producer, batch_size_max=10, **options)
    try:
        assert await relay.publish_batch() == 10
        assert _oldest_age(service) >= HOUR_S  # Five of the hour-old messages still wait.
        assert await relay.publish_batch() == 5
        assert _oldest_age(service) == 0
    finally:
        await producer.stop()


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


async def test_a_message_written_again_while_it_waits_is_kept_once(engine: AsyncEngine) -> None:
    message = OutgoingMessage(topic="t", key="k", type="t.test", source="/tests", data={"step": "reserve"})
    for _ in range(2):
        # The saga timer re-sends a step under the same id while the broker is down.
        async with UnitOfWork(engine) as uow:
            uow.publish(message, OutgoingMessage(topic="t", key="k", type="t.other", source="/tests", data={}))
            await uow.commit()
    async with engine.connect() as connection:
        ids = (await connection.execute(select(outbox_table.c.event_id))).scalars().all()
    assert sorted(ids).count(message.id) == 1
    assert len(ids) == 3
