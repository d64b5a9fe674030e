"""Proves the operator, running with only the operator chart's ServiceAccount and RBAC against a real
API server, turns the LedgerlineTopics the ledgerline chart renders into Kafka topics and reports
Ready=True with the observed generation in their status."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from ledgerline.infra.launcher import Infrastructure
from ledgerline_operator.main import BROKER_RETRY_DELAY_S
from tests.cluster.harness import ControlPlane
from tests.cluster.releases import LocalOperator, wait_for
from tests.k8s.charts import APP_CHART, manifests, render

# A quiet machine needs seconds. A handler that finds the broker slow to answer is retried by
# kopf only after BROKER_RETRY_DELAY_S, so the bounds allow several such retries on a busy one.
BROKER_RETRIES_ALLOWED = 4
TOPICS_READY_TIMEOUT_S = 60.0 + BROKER_RETRIES_ALLOWED * BROKER_RETRY_DELAY_S
TOPICS_DELETED_TIMEOUT_S = 60.0 + BROKER_RETRIES_ALLOWED * BROKER_RETRY_DELAY_S
# The test function's own limit covers its three waits plus kubectl calls, so a slow run fails
# in a wait, with its diagnostics, rather than being cut off by the suite's default limit.
TEST_TIMEOUT_S = 2 * TOPICS_READY_TIMEOUT_S + TOPICS_DELETED_TIMEOUT_S + 120.0


def rendered_topics(prefix: str, namespace: str) -> list[dict[str, Any]]:
    """The chart's LedgerlineTopics (dev values: deletionPolicy Delete), with the Kafka topic names
    prefixed so they never collide with the topics other tests' platform uses on the same broker."""
    items = []
    for m in manifests(render(APP_CHART, {"topics": {"deletionPolicy": "Delete"}}, namespace=namespace)):
        if m.kind == "LedgerlineTopic":
            obj = m.obj
            obj["spec"]["topicName"] = f"{prefix}.{obj['spec']['topicName']}"
            items.append(obj)
    return items


async def kafka_topics(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # One Metadata request for every topic: naming topics listed a moment earlier would let
        # the broker auto-create one that the operator deleted in between.
        described = await admin.describe_topics(None)
        return {t["topic"]: len(t["partitions"]) for t in described if not t.get("error_code")}
    finally:
        await admin.close()


def prefixed_kafka_topics(bootstrap: str, prefix: str) -> list[str] | str:
    """This test's topics still in Kafka, or the error met asking (a wait treats it as not yet)."""
    try:
        return sorted(name for name in asyncio.run(kafka_topics(bootstrap)) if name.startswith(prefix))
    except (KafkaError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


def ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    generation = obj["metadata"]["generation"]
    return status.get("observedGeneration") == generation and any(
        c["type"] == "Ready" and c["status"] == "True" and c.get("observedGeneration") == generation
        for c in status.get("conditions", [])
    )


@pytest.mark.timeout(TEST_TIMEOUT_S, func_only=True)
def test_operator_reconciles_chart_topics_with_its_chart_rbac(
    control_plane: ControlPlane, local_operator: LocalOperator, infra: Infrastructure
) -> None:
    plane = control_plane
    namespace = f"topics-{uuid.uuid4().hex[:6]}"
    prefix = f"t{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", namespace)
    topics = rendered_topics(prefix, namespace)
    assert len(topics) >= 7, [t["metadata"]["name"] for t in topics]
    plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": topics}))

    def current() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            plane.kubectl("get", "ledgerlinetopics", "-n", namespace, "-o", "json")
        )["items"]
        return items

    def statuses() -> str:
        rows = [f"{o['metadata']['name']}: {json.dumps(o.get('status'))}" for o in current()]
        return "\n".join(rows) + "\n" + local_operator.tail()

    wait_for(
        f"all {len(topics)} LedgerlineTopics Ready=True at their generation",
        lambda: all(ready(o) for o in current()),
        TOPICS_READY_TIMEOUT_S,
        statuses,
    )

    in_kafka = asyncio.run(kafka_topics(infra.kafka.bootstrap_servers))
    for topic in topics:
        spec = topic["spec"]
        name = spec["topicName"]
        expected = {name, f"{name}.dlq"} | {
            f"{name}.retry.{n}" for n in range(1, len(spec.get("retry", {}).get("delaysSeconds", [])) + 1)
        }
        for owned in expected:
            assert in_kafka.get(owned) == spec["partitions"], f"{owned}: {in_kafka.get(owned)} partitions in Kafka"
    for obj in current():
        reported = {t["name"] if isinstance(t, dict) else t for t in obj["status"].get("topics", [])}
        assert obj["spec"]["topicName"] in reported, obj["status"]

    # A spec change (one more retry delay) is reconciled at the new generation: a new retry topic.
    with_retries = next(t for t in topics if t["spec"].get("retry"))
    name, delays = with_retries["metadata"]["name"], with_retries["spec"]["retry"]["delaysSeconds"]
    patch = {"spec": {"retry": {"delaysSeconds": [*delays, 240]}}}
    plane.kubectl("patch", "ledgerlinetopic", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch))

    def regenerated() -> bool:
        obj = next(o for o in current() if o["metadata"]["name"] == name)
        return obj["metadata"]["generation"] == 2 and ready(obj)

    wait_for(f"{name} Ready=True at generation 2", regenerated, TOPICS_READY_TIMEOUT_S, statuses)
    new_retry = f"{with_retries['spec']['topicName']}.retry.{len(delays) + 1}"
    assert asyncio.run(kafka_topics(infra.kafka.bootstrap_servers)).get(new_retry) == with_retries["spec"]["partitions"]
    assert local_operator.forbidden() == [], "\n".join(local_operator.forbidden())

    # deletionPolicy Delete: deleting the resources deletes their topics (finalizer handled with
    # the chart's RBAC).
    plane.kubectl("delete", "ledgerlinetopics", "--all", "-n", namespace, "--wait=false")

    def topics_gone() -> bool:
        return prefixed_kafka_topics(infra.kafka.bootstrap_servers, prefix) == [] and current() == []

    def deletion_state() -> str:
        rows = [
            f"{o['metadata']['name']}: deletionTimestamp={o['metadata'].get('deletionTimestamp')} "
            f"finalizers={o['metadata'].get('finalizers')} status={json.dumps(o.get('status'))}"
            for o in current()
        ]
        remaining = prefixed_kafka_topics(infra.kafka.bootstrap_servers, prefix)
        return "\n".join([*rows, f"Kafka topics left: {remaining}", local_operator.tail()])

    wait_for(
        "the LedgerlineTopics and their Kafka topics to be deleted",
        topics_gone,
        TOPICS_DELETED_TIMEOUT_S,
        deletion_state,
    )
    plane.kubectl("delete", "namespace", namespace, "--wait=false")
