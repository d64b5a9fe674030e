"""Kafka clients as the platform configures them: the producer, and topic creation.

Kept apart from the consumer (`core/kafka.py`, with its metrics and CloudEvents decoding) so the
operator can share these settings without importing what only the services need.
Nothing here relies on idempotent producers or transactions: the embedded broker has neither,
and the outbox plus the inbox give exactly-once effects without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ledgerline.core.topics import PLATFORM_TOPICS, TopicSpec, all_topic_names

REQUEST_TIMEOUT_MS = 30_000
PRODUCER_LINGER_MS = 5
PRODUCER_MAX_BATCH_BYTES = 1024 * 1024


def create_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=PRODUCER_LINGER_MS,
        max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


async def ensure_topics(
    bootstrap_servers: str,
    specs: Sequence[TopicSpec] = PLATFORM_TOPICS,
    *,
    replication_factor: int = 1,
) -> list[str]:
    """Create missing topics (and their dead-letter topics); returns the names created."""
    wanted = {name: spec.partitions for spec in specs for name in all_topic_names((spec,))}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=REQUEST_TIMEOUT_MS)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            # Another starter may win the race; the topic is there either way.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(name, wanted[name], replication_factor) for name in missing])
        return missing
    finally:
        await admin.close()
