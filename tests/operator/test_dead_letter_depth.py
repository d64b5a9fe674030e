"""The depth of every dead-letter topic, as the operator exports it: the records a real broker
holds in each `*.dlq` topic (several to a record batch, where tansu's ListOffsets falls short),
measured by the startup handler's background loop on its interval, with the platform's own
dead-letter topics shown from the start."""

from __future__ import annotations

import kopf
import pytest

from ledgerline_operator import main
from ledgerline_operator.dead_letter_depth import depth, topics_to_measure
from ledgerline_operator.metrics import OPERATOR_REGISTRY, PLATFORM_DEAD_LETTER_TOPICS
from tests.operator.conftest import Letter, dlq_of, write_dead_letters
from tests.polling import eventually

# A few measurements at the shortest interval, with room for a busy machine and a broker full of
# other tests' dead-letter topics.
MEASURED_WITHIN_S = 90.0
INTERVAL_S = "5"


def shown_depth(topic: str) -> float | None:
    return OPERATOR_REGISTRY.get_sample_value("ledgerline_operator_dead_letter_depth", {"topic": topic})


def test_the_platform_dead_letter_topics_are_shown_at_zero_before_any_measurement() -> None:
    assert "ledgerline.notification.deliveries.v1.dlq" in PLATFORM_DEAD_LETTER_TOPICS
    assert all(shown_depth(topic) is not None for topic in PLATFORM_DEAD_LETTER_TOPICS)


def test_known_topics_come_first_and_the_rest_up_to_the_limit() -> None:
    on_broker = {"a.dlq": 3, "b.dlq": 1, "c.dlq": 2, "a": 6, "a.retry.1": 6}
    assert topics_to_measure(on_broker, ["k.dlq", "b.dlq"], limit=3) == {"k.dlq": 0, "b.dlq": 1, "a.dlq": 3}
    assert topics_to_measure(on_broker, ["k.dlq", "b.dlq"], limit=1) == {"k.dlq": 0}
    # Retention moved the start of partition 1 past records, partition 2 is empty.
    assert depth({0: 0, 1: 40, 2: 7}, {0: 5, 1: 42, 2: 7}) == 7


async def test_the_operator_shows_the_records_each_dead_letter_topic_holds(
    bootstrap: str, topic_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dlq = dlq_of(topic_name)
    letters = [Letter(f"k{i}", topic_name) for i in range(7)]
    await write_dead_letters(bootstrap, dlq, letters, partitions=3, batched=True)
    monkeypatch.setenv("LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("LEDGERLINE_OPERATOR_DEAD_LETTER_DEPTH_INTERVAL_S", INTERVAL_S)
    memo = kopf.Memo()
    await main.measure_dead_letter_depth(memo=memo)
    try:
        assert await eventually(lambda: shown_depth(dlq) == 7, MEASURED_WITHIN_S), shown_depth(dlq)
        await write_dead_letters(bootstrap, dlq, [Letter("late", topic_name)], partitions=3)
        assert await eventually(lambda: shown_depth(dlq) == 8, MEASURED_WITHIN_S), shown_depth(dlq)
    finally:
        await main.close(memo=memo)
    assert memo.dead_letter_depth.done()
