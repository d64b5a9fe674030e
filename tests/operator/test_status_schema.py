"""What the operator writes fits its own CRDs: the statuses validate against the status schemas
and lose no declared field to pruning, and the operator refuses, by itself, the bad specs the
schemas reject (in case one gets past them). The schema's own rejections are proven in
tests/k8s/test_operator_crds.py and reused here, not repeated."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ledgerline_operator.replay_progress import FAILED, RUNNING, Counts, PartitionProgress, ReplayProgress
from ledgerline_operator.replay_spec import InvalidReplay, parse_replay_spec
from ledgerline_operator.topic_admin import TopicAdmin
from ledgerline_operator.topic_plan import InvalidTopicSpec, desired_topics
from ledgerline_operator.topics import broker_unavailable_status, reconcile_topic
from tests.k8s import crdschemas
from tests.k8s.test_operator_crds import BAD_REPLAYS, BAD_TOPICS, REPLAY, TOPIC, _example

# The API server drops (or, with strict field validation, refuses) undeclared fields before an
# operator sees the object, and Kafka takes config values as strings anyway.
REACHES_OPERATOR_UNCHANGED = {"unknown spec field", "unknown deadLetter field", "non-string config value"}


def status_errors(key: tuple[str, str], status: dict[str, Any]) -> list[str]:
    """Schema errors of `status`, plus fields the API server would prune: `status` itself keeps
    unknown fields, but its declared sub-objects (counts, partitions[], conditions[]) do not."""
    schema = crdschemas.own_schemas()[key]["properties"]["status"]
    found = crdschemas.errors(schema, status)
    for name, value in status.items():
        if name in schema["properties"]:
            found += crdschemas.unknown_fields(schema["properties"][name], value, name)
    return found


def replay_progress() -> ReplayProgress:
    progress = ReplayProgress(
        phase=RUNNING,
        partitions={0: PartitionProgress(0, 0, 40, 17), 1: PartitionProgress(1, 5, 9, 9)},
        counts=Counts(scanned=21, matched=8, replayed=7, skipped=1),
        targets={"ledgerline.payment.events.v1": {0: 120, 1: 98}},
        started_at="2026-01-15T10:00:00Z",
    )
    return progress


def test_replay_statuses_fit_the_crd() -> None:
    progress = replay_progress()
    running = progress.to_status(generation=2)
    progress.finish(FAILED, "SourceTopicNotFound", "topic x.dlq does not exist")
    failed = progress.to_status(generation=2)
    assert status_errors(REPLAY, running) == [] and status_errors(REPLAY, failed) == []
    assert running["replayCheckpoint"]["targets"][0] == {
        "topic": "ledgerline.payment.events.v1",
        "partition": 0,
        "offset": 120,
    }


async def test_topic_statuses_fit_the_crd(bootstrap: str, topic_name: str) -> None:
    async with TopicAdmin(bootstrap) as admin:
        ready = await reconcile_topic(
            admin, resource_name="t", spec={"topicName": topic_name, "partitions": 1}, generation=1
        )
        refused = await reconcile_topic(
            admin, resource_name="t", spec={"topicName": topic_name, "partitions": 0}, generation=2
        )
    unknown = broker_unavailable_status("connect: KafkaConnectionError", 3, ready.status["conditions"])
    for status in (ready.status, refused.status, unknown):
        assert status_errors(TOPIC, status) == []


def mutated(example: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    spec = copy.deepcopy(_example(example)["spec"])
    change(spec)
    return spec


@pytest.mark.parametrize("case", sorted(set(BAD_REPLAYS) - REACHES_OPERATOR_UNCHANGED))
def test_the_operator_refuses_bad_replays_by_itself(case: str) -> None:
    with pytest.raises(InvalidReplay):
        parse_replay_spec(mutated("deadletterreplay.yaml", BAD_REPLAYS[case]))


@pytest.mark.parametrize("case", sorted(set(BAD_TOPICS) - REACHES_OPERATOR_UNCHANGED))
def test_the_operator_refuses_bad_topics_by_itself(case: str) -> None:
    with pytest.raises(InvalidTopicSpec):
        desired_topics("resource", mutated("ledgerlinetopic.yaml", BAD_TOPICS[case]))
