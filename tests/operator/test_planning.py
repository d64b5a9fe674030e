"""The pure halves of the operator decide correctly at their limits: topic plans from specs and
reported states (names at Kafka's length limit, replication changes, config drift), replay specs
at their bounds, the time window, and the rate limiter's waits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerline.core.dead_letters import dead_letter_headers
from ledgerline_operator.pacing import RateLimiter
from ledgerline_operator.replay_spec import (
    MAX_MESSAGES_MAX,
    RATE_PER_SECOND_MAX,
    DeadLetter,
    InvalidReplay,
    matches,
    parse_replay_spec,
)
from ledgerline_operator.topic_plan import (
    PARTITIONS_MAX,
    TOPIC_NAME_CHARS_MAX,
    ActualTopic,
    InvalidTopicSpec,
    desired_topics,
    plan_topics,
)


def test_topic_names_count_their_suffixes_against_kafkas_limit() -> None:
    longest = "t" * (TOPIC_NAME_CHARS_MAX - len(".dlq"))
    assert desired_topics("r", {"topicName": longest, "partitions": 1}).names[-1] == longest + ".dlq"
    with pytest.raises(InvalidTopicSpec, match="longer than Kafka's 249"):
        desired_topics("r", {"topicName": longest + "t", "partitions": 1})
    with pytest.raises(InvalidTopicSpec, match="longer"):  # ".retry.10" is longer than ".dlq".
        desired_topics("r", {"topicName": longest, "partitions": 1, "retry": {"delaysSeconds": [1] * 10}})


def test_partitions_at_and_past_the_limit() -> None:
    assert desired_topics("r", {"partitions": PARTITIONS_MAX}).topics[0].partitions == PARTITIONS_MAX
    with pytest.raises(InvalidTopicSpec):
        desired_topics("r", {"partitions": PARTITIONS_MAX + 1})


def test_plan_refuses_replication_changes_and_rewrites_drifted_config() -> None:
    desired = desired_topics("r", {"topicName": "t", "partitions": 2, "replicationFactor": 3, "config": {"a": "1"},
                                   "deadLetter": {"enabled": False}})  # fmt: skip
    actual = {"t": ActualTopic("t", 2, 1, {"a": "1", "b": "2"}, frozenset({"a", "b"}))}
    plan = plan_topics(desired, actual)
    assert [r.reason for r in plan.refusals] == ["ReplicationFactorChangeRefused"]
    assert plan.alter_config == (("t", {"a": "1"}),)  # "b" was set outside the spec: it goes.
    assert not plan.create and not plan.raise_partitions


def letter(first_failure: str | None, timestamp_ms: int = 0) -> DeadLetter:
    headers = dead_letter_headers(
        topic="t", partition=0, offset=0, error="TimeoutError", attempts=1, first_failure=datetime.now(UTC)
    )
    headers = [(k, v) for k, v in headers if k != "dlq_first_failure_time"]
    if first_failure is not None:
        headers.append(("dlq_first_failure_time", first_failure.encode()))
    return DeadLetter(0, 0, b"k", b"{}", tuple(headers), timestamp_ms)


def test_time_window_uses_the_first_failure_header_else_the_record_timestamp() -> None:
    window = parse_replay_spec(
        {"sourceTopic": "t.dlq", "filters": {"since": "2026-01-15T10:00:00Z", "until": "2026-01-15T11:00:00Z"}}
    ).filters
    assert matches(window, letter("2026-01-15T10:00:00+00:00"))  # since is inclusive
    assert not matches(window, letter("2026-01-15T11:00:00+00:00"))  # until is exclusive
    inside_ms = int(datetime(2026, 1, 15, 10, 30, tzinfo=UTC).timestamp() * 1000)
    assert matches(window, letter(None, inside_ms))
    assert matches(window, letter("not a time", inside_ms))
    assert not matches(window, letter(None, 0))


def test_replay_bounds_at_and_past_their_limits() -> None:
    at_max = parse_replay_spec(
        {"sourceTopic": "t.dlq", "ratePerSecond": RATE_PER_SECOND_MAX, "maxMessages": MAX_MESSAGES_MAX}
    )
    assert (at_max.rate_per_second, at_max.max_messages) == (RATE_PER_SECOND_MAX, MAX_MESSAGES_MAX)
    for past in ({"ratePerSecond": RATE_PER_SECOND_MAX + 1}, {"maxMessages": MAX_MESSAGES_MAX + 1}):
        with pytest.raises(InvalidReplay):
            parse_replay_spec({"sourceTopic": "t.dlq", **past})
    with pytest.raises(InvalidReplay, match="since must be before"):
        parse_replay_spec(
            {"sourceTopic": "t.dlq", "filters": {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}}
        )


def test_rate_limiter_spaces_sends_and_does_not_bank_idle_time() -> None:
    limiter = RateLimiter(10)
    assert [limiter.reserve(0.0) for _ in range(4)] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert limiter.reserve(100.0) == 0.0  # Idle for a while: the next send goes at once...
    assert limiter.reserve(100.0) == pytest.approx(0.1)  # ...but no burst follows.
    with pytest.raises(ValueError):
        RateLimiter(0)
