"""A Kafka producer on a test platform's broker, for tests that play a service and send its
commands themselves (redeliveries, re-sends, copies with a new id)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer

from ledgerline.core.events import OutgoingMessage, encode
from ledgerline.core.kafka_clients import create_producer
from ledgerline.infra.platform import Platform


@asynccontextmanager
async def started_producer(platform: Platform, client_id: str) -> AsyncIterator[AIOKafkaProducer]:
    kafka = create_producer(platform.infra.kafka.bootstrap_servers, client_id)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def send_twice(producer: AIOKafkaProducer, message: OutgoingMessage, *, same_id: bool) -> None:
    """The message, then a copy: with the same message id (a redelivery) or a new one."""
    copies = [message, message if same_id else dataclasses.replace(message, id=str(uuid.uuid4()))]
    for copy in copies:
        key, value, headers = encode(copy)
        await (await producer.send(copy.topic, value=value, key=key, headers=headers))
