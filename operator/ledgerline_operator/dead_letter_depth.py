"""How many records each dead-letter topic holds, measured on an interval for
`ledgerline_operator_dead_letter_depth`.

The depth of a topic is, over its partitions, the log end offset minus the log start offset: what
a replay would scan now. Replays copy dead letters back and leave them in place, so the depth
falls only when retention deletes them. Measured topics: the platform's own dead-letter topics
(zero when missing) and every other `*.dlq` topic on the broker, up to `DEAD_LETTER_TOPICS_MAX`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from ledgerline.core.topics import DEAD_LETTER_SUFFIX
from ledgerline_operator.kafka_errors import BrokerUnavailable, TopicRejected
from ledgerline_operator.replay_kafka import ReplayKafka

DEAD_LETTER_TOPICS_MAX = 200
CLIENT_ID = "ledgerline-operator-dead-letter-depth"

log = logging.getLogger(__name__)


def topics_to_measure(
    partitions: Mapping[str, int], known: Sequence[str], limit: int = DEAD_LETTER_TOPICS_MAX
) -> dict[str, int]:
    """{topic: partition count} of the dead-letter topics to measure: the known ones (0 partitions
    when missing), then the broker's other `*.dlq` topics in name order, `limit` in all."""
    chosen = {topic: partitions.get(topic, 0) for topic in known[:limit]}
    others = sorted(t for t in partitions if t.endswith(DEAD_LETTER_SUFFIX) and t not in chosen)
    chosen.update((topic, partitions[topic]) for topic in others[: max(0, limit - len(chosen))])
    return chosen


def depth(begin: Mapping[int, int], end: Mapping[int, int]) -> int:
    """Records held between each partition's log start and end offsets."""
    return sum(max(0, end[partition] - begin[partition]) for partition in end)


async def measure(bootstrap_servers: str, known: Sequence[str]) -> dict[str, int]:
    """{dead-letter topic: records it holds now}. Raises `BrokerUnavailable` or `TopicRejected`."""
    async with ReplayKafka(bootstrap_servers, CLIENT_ID, produce=False) as kafka:
        depths: dict[str, int] = {}
        for topic, count in topics_to_measure(await kafka.partition_counts(), known).items():
            depths[topic] = depth(*await kafka.offsets(topic, count)) if count else 0
        return depths


async def keep_measuring(
    bootstrap_servers: str,
    known: Sequence[str],
    interval_s: float,
    report: Callable[[Mapping[str, int]], None],
    exclusive: asyncio.Lock,
) -> None:
    """Measures now and then every `interval_s` until cancelled, each time holding `exclusive`
    (no topic is deleted meanwhile); a failed measurement keeps the last depths (logged) and the
    next one tries again."""
    while True:
        try:
            async with exclusive:
                depths = await measure(bootstrap_servers, known)
            report(depths)
        except (BrokerUnavailable, TopicRejected) as exc:
            log.warning("dead-letter depth not measured, showing the last one: %s", exc)
        except Exception:  # A loop that died would freeze the gauge without a word.
            log.exception("dead-letter depth not measured, showing the last one")
        await asyncio.sleep(interval_s)
