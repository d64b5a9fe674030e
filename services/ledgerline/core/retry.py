"""Non-blocking retries: a message that failed moves to `<topic>.retry.<n>` with a due time and
is retried by that topic's own consumer once due; after the last delay it goes to `<topic>.dlq`.

The main consumer never waits. Each retry topic has one fixed delay, so its messages become due
in order and its consumer only ever waits for the head of its log. Every hop carries the
dead-letter headers naming where the message first came from, so the dead letter (and a replay
of it) points at the original topic, partition and offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from ledgerline.core.dead_letters import (
    DLQ_FIRST_FAILURE_TIME,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    dead_letter_headers,
)
from ledgerline.core.events import Envelope
from ledgerline.core.kafka import DEAD_LETTERED
from ledgerline.core.topics import dead_letter_topic, retry_topic

RETRY_ATTEMPT = "retry_attempt"
RETRY_DUE_AT = "retry_due_at"
RETRY_DELAY_MAX_S = 240  # Below the consumer's max poll interval, so a waiting consumer keeps its group.
RETRY_STEPS_MAX = 10
_ROUTING_HEADERS = frozenset({RETRY_ATTEMPT, RETRY_DUE_AT}) | {
    DLQ_ORIGINAL_TOPIC,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_OFFSET,
    DLQ_FIRST_FAILURE_TIME,
    "dlq_error",
    "dlq_attempt_count",
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    topic: str
    delays_s: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.delays_s) > RETRY_STEPS_MAX:
            raise ValueError(f"at most {RETRY_STEPS_MAX} retry steps")
        if any(not 1 <= delay <= RETRY_DELAY_MAX_S for delay in self.delays_s):
            raise ValueError(f"retry delays must be 1..{RETRY_DELAY_MAX_S} seconds")

    @property
    def retry_topics(self) -> list[str]:
        return [retry_topic(self.topic, step) for step in range(1, len(self.delays_s) + 1)]

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.topic)


def attempts_so_far(envelope: Envelope) -> int:
    """Delivery attempts made before this one (0 on the main topic)."""
    raw = envelope.headers.get(RETRY_ATTEMPT)
    return int(raw) if raw else 0


class RetryRouter:
    """Moves the failed messages of consumer group `group` on; counts those it dead-letters
    under the original topic, as the batch consumer counts its own."""

    def __init__(self, producer: AIOKafkaProducer, policy: RetryPolicy, *, group: str) -> None:
        self._producer = producer
        self._policy = policy
        self._group = group
        DEAD_LETTERED.labels(group, policy.topic)

    async def fail(self, envelope: Envelope, error: str, *, now: datetime | None = None) -> str:
        """Send a failed message one step on: the next retry topic, or the dead-letter topic."""
        now = now or datetime.now(UTC)
        attempts = attempts_so_far(envelope) + 1
        origin = _origin(envelope)
        first_failure = envelope.headers.get(DLQ_FIRST_FAILURE_TIME)
        headers = [(k, v) for k, v in envelope.headers.items() if k not in _ROUTING_HEADERS]
        headers += dead_letter_headers(
            topic=origin[0],
            partition=origin[1],
            offset=origin[2],
            error=error,
            attempts=attempts,
            first_failure=datetime.fromisoformat(first_failure.decode()) if first_failure else now,
        )
        if attempts <= len(self._policy.delays_s):
            target = retry_topic(self._policy.topic, attempts)
            due = now + timedelta(seconds=self._policy.delays_s[attempts - 1])
            headers += [(RETRY_ATTEMPT, str(attempts).encode()), (RETRY_DUE_AT, due.isoformat().encode())]
        else:
            target = self._policy.dead_letter_topic
        key = envelope.key.encode() if envelope.key else None
        await (await self._producer.send(target, value=envelope.raw_value, key=key, headers=headers))
        if target == self._policy.dead_letter_topic:
            DEAD_LETTERED.labels(self._group, self._policy.topic).inc()
        return target


def _origin(envelope: Envelope) -> tuple[str, int, int]:
    h = envelope.headers
    if DLQ_ORIGINAL_TOPIC in h:
        return h[DLQ_ORIGINAL_TOPIC].decode(), int(h[DLQ_ORIGINAL_PARTITION]), int(h[DLQ_ORIGINAL_OFFSET])
    return envelope.topic, envelope.partition, envelope.offset


async def wait_until_due(envelopes: Sequence[Envelope], *, now: datetime | None = None) -> float:
    """Sleep until the latest due time in the batch; returns the seconds slept."""
    now = now or datetime.now(UTC)
    due_times = [_due(e.headers) for e in envelopes]
    latest = max((due for due in due_times if due is not None), default=now)
    wait_s = min(max(0.0, (latest - now).total_seconds()), float(RETRY_DELAY_MAX_S))
    if wait_s:
        await asyncio.sleep(wait_s)
    return wait_s


def _due(headers: Mapping[str, bytes]) -> datetime | None:
    raw = headers.get(RETRY_DUE_AT)
    return datetime.fromisoformat(raw.decode()) if raw else None
