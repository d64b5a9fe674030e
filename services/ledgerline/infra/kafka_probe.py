"""Readiness of a Kafka-protocol broker: it answers a metadata request."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from ledgerline.infra.process import tcp_open

PROBE_TIMEOUT_MS = 3000


def kafka_answers_metadata(bootstrap_servers: str) -> bool:
    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    if not tcp_open(host, int(port)):
        return False

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=PROBE_TIMEOUT_MS)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())
