"""Reconciling a LedgerlineTopic against a real broker creates what is missing, changes nothing
the second time, raises partitions and alters configs (Apache Kafka), refuses to shrink, and
deletes topics only under deletionPolicy Delete."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerline.infra.process import free_port
from ledgerline_operator.conditions import find_condition
from ledgerline_operator.kafka_errors import BrokerUnavailable
from ledgerline_operator.topic_admin import TopicAdmin
from ledgerline_operator.topics import TopicOutcome, delete_topics_of, reconcile_topic
from tests.operator.conftest import partition_count, topic_names

RESOURCE = "payments"


async def reconcile(bootstrap: str, spec: dict[str, Any], generation: int = 1, conditions: Any = None) -> TopicOutcome:
    async with TopicAdmin(bootstrap) as admin:
        return await reconcile_topic(
            admin, resource_name=RESOURCE, spec=spec, generation=generation, conditions=conditions
        )


def ready(outcome: TopicOutcome) -> dict[str, Any]:
    condition = find_condition(outcome.status["conditions"], "Ready")
    assert condition is not None
    return dict(condition)


async def test_creates_the_main_retry_and_dead_letter_topics(bootstrap: str, topic_name: str) -> None:
    spec = {"topicName": topic_name, "partitions": 3, "retry": {"delaysSeconds": [5, 30]}, "config": {}}
    outcome = await reconcile(bootstrap, spec, generation=4)

    wanted = [topic_name, f"{topic_name}.retry.1", f"{topic_name}.retry.2", f"{topic_name}.dlq"]
    assert set(wanted) <= await topic_names(bootstrap)
    assert [await partition_count(bootstrap, name) for name in wanted] == [3, 3, 3, 3]
    assert outcome.status["topics"] == [{"name": name, "partitions": 3} for name in wanted]
    assert outcome.status["observedGeneration"] == 4
    assert ready(outcome)["status"] == "True" and ready(outcome)["reason"] == "Reconciled"
    assert ready(outcome)["observedGeneration"] == 4


async def test_topic_name_defaults_to_the_resource_name_and_dead_letters_can_be_off(bootstrap: str) -> None:
    async with TopicAdmin(bootstrap) as admin:
        name = f"optest-{free_port()}"
        outcome = await reconcile_topic(
            admin, resource_name=name, spec={"partitions": 1, "deadLetter": {"enabled": False}}, generation=1
        )
    assert outcome.status["topics"] == [{"name": name, "partitions": 1}]
    assert f"{name}.dlq" not in await topic_names(bootstrap)


async def test_second_reconcile_is_a_no_op(bootstrap: str, topic_name: str) -> None:
    spec = {
        "topicName": topic_name,
        "partitions": 2,
        "retry": {"delaysSeconds": [5]},
        "config": {"retention.ms": "86400000"},
    }
    first = await reconcile(bootstrap, spec)
    second = await reconcile(bootstrap, spec, generation=1, conditions=first.status["conditions"])

    assert first.plan is not None and len(first.plan.create) == 3
    assert second.plan is not None and second.plan.is_empty and not second.plan.refusals
    assert ready(second)["status"] == "True"
    assert ready(second)["lastTransitionTime"] == ready(first)["lastTransitionTime"]
    assert "no changes" in ready(second)["message"]


async def test_shrinking_is_refused_and_the_topics_keep_their_partitions(bootstrap: str, topic_name: str) -> None:
    await reconcile(bootstrap, {"topicName": topic_name, "partitions": 4})
    outcome = await reconcile(bootstrap, {"topicName": topic_name, "partitions": 2}, generation=2)

    condition = ready(outcome)
    assert condition["status"] == "False"
    assert condition["reason"] == "PartitionShrinkRefused"
    assert (
        f"{topic_name} has 4 partitions" in condition["message"] and "cannot remove partitions" in condition["message"]
    )
    assert outcome.rejected is None  # A refusal is reported, not an error to retry or give up on.
    assert await partition_count(bootstrap, topic_name) == 4
    assert await partition_count(bootstrap, f"{topic_name}.dlq") == 4
    assert outcome.status["topics"][0] == {"name": topic_name, "partitions": 4}


async def test_deletion_policy_retain_keeps_the_topics(bootstrap: str, topic_name: str) -> None:
    spec = {"topicName": topic_name, "partitions": 1, "retry": {"delaysSeconds": [1]}}
    await reconcile(bootstrap, spec)
    async with TopicAdmin(bootstrap) as admin:
        deleted = await delete_topics_of(admin, resource_name=RESOURCE, spec=spec)
    assert deleted == []
    assert {topic_name, f"{topic_name}.retry.1", f"{topic_name}.dlq"} <= await topic_names(bootstrap)


async def test_deletion_policy_delete_removes_every_topic(bootstrap: str, topic_name: str) -> None:
    spec = {"topicName": topic_name, "partitions": 1, "retry": {"delaysSeconds": [1]}, "deletionPolicy": "Delete"}
    await reconcile(bootstrap, spec)
    async with TopicAdmin(bootstrap) as admin:
        deleted = await delete_topics_of(admin, resource_name=RESOURCE, spec=spec)
        again = await delete_topics_of(admin, resource_name=RESOURCE, spec=spec)  # Already gone: fine.

    assert deleted == again == [topic_name, f"{topic_name}.retry.1", f"{topic_name}.dlq"]
    assert not set(deleted) & await topic_names(bootstrap)


async def test_a_spec_past_the_schema_is_rejected_without_touching_kafka(bootstrap: str, topic_name: str) -> None:
    outcome = await reconcile(bootstrap, {"topicName": topic_name, "partitions": -1})
    assert ready(outcome)["reason"] == "InvalidSpec"
    assert outcome.rejected and "partitions must be an integer from 1 to 1000" in outcome.rejected
    assert topic_name not in await topic_names(bootstrap)


async def test_tansu_cannot_add_partitions_and_says_so(bootstrap: str, topic_name: str) -> None:
    """The embedded broker does not implement CreatePartitions: the resource is told, not retried."""
    await reconcile(bootstrap, {"topicName": topic_name, "partitions": 1})
    outcome = await reconcile(bootstrap, {"topicName": topic_name, "partitions": 2}, generation=2)
    assert ready(outcome)["status"] == "False" and ready(outcome)["reason"] == "UnsupportedByBroker"
    assert outcome.rejected


async def test_an_unreachable_broker_is_a_temporary_error() -> None:
    with pytest.raises(BrokerUnavailable):
        async with TopicAdmin(f"127.0.0.1:{free_port()}"):
            pass


@pytest.mark.apache
async def test_raises_partitions_of_every_topic(apache_bootstrap: str, topic_name: str) -> None:
    spec = {"topicName": topic_name, "partitions": 2, "retry": {"delaysSeconds": [5]}}
    await reconcile(apache_bootstrap, spec)
    outcome = await reconcile(apache_bootstrap, {**spec, "partitions": 5}, generation=2)

    names = [topic_name, f"{topic_name}.retry.1", f"{topic_name}.dlq"]
    assert outcome.plan is not None and outcome.plan.raise_partitions == tuple((n, 5) for n in names)
    assert ready(outcome)["status"] == "True"
    assert outcome.status["topics"] == [{"name": n, "partitions": 5} for n in names]
    assert [await partition_count(apache_bootstrap, n) for n in names] == [5, 5, 5]
    third = await reconcile(apache_bootstrap, {**spec, "partitions": 5}, generation=2)
    assert third.plan is not None and third.plan.is_empty


@pytest.mark.apache
async def test_alters_config_and_resets_keys_dropped_from_the_spec(apache_bootstrap: str, topic_name: str) -> None:
    spec = {"topicName": topic_name, "partitions": 1, "deadLetter": {"enabled": False}}
    await reconcile(apache_bootstrap, {**spec, "config": {"retention.ms": "3600000"}})
    changed = await reconcile(apache_bootstrap, {**spec, "config": {"cleanup.policy": "compact"}}, generation=2)

    assert changed.plan is not None and changed.plan.alter_config == ((topic_name, {"cleanup.policy": "compact"}),)
    async with TopicAdmin(apache_bootstrap) as admin:
        actual = (await admin.describe([topic_name]))[topic_name]
    assert actual.config["cleanup.policy"] == "compact"
    assert actual.config["retention.ms"] != "3600000"  # Back to the broker default.
    assert actual.dynamic_keys == {"cleanup.policy"}
    again = await reconcile(apache_bootstrap, {**spec, "config": {"cleanup.policy": "compact"}}, generation=2)
    assert again.plan is not None and again.plan.is_empty


@pytest.mark.apache
async def test_kafka_rejections_are_permanent(apache_bootstrap: str, topic_name: str) -> None:
    """More replicas than brokers, or an unknown config key: Ready=False and no retry."""
    too_many = await reconcile(apache_bootstrap, {"topicName": topic_name, "partitions": 1, "replicationFactor": 3})
    assert ready(too_many)["reason"] == "KafkaRejected" and "InvalidReplicationFactor" in ready(too_many)["message"]
    unknown = await reconcile(
        apache_bootstrap, {"topicName": topic_name, "partitions": 1, "config": {"bogus.key": "1"}}
    )
    assert unknown.rejected and "bogus.key" in unknown.rejected
    assert topic_name not in await topic_names(apache_bootstrap)
