"""Reconciling a LedgerlineTopic: read Kafka, plan, apply, and describe the outcome as a status.

`reconcile_topic` returns the status to store and raises only `BrokerUnavailable` (the kopf
layer retries later); a spec Kafka cannot honour becomes Ready=False in the returned status,
with the rejection attached so the kopf layer can stop retrying.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledgerline_operator.conditions import set_condition
from ledgerline_operator.kafka_errors import TopicRejected
from ledgerline_operator.topic_admin import TopicAdmin
from ledgerline_operator.topic_plan import (
    ActualTopic,
    DesiredTopics,
    InvalidTopicSpec,
    TopicPlan,
    desired_topics,
    plan_topics,
    topics_to_delete,
)

READY = "Ready"
# Metadata can lag a moment behind a create or a partition increase; wait this long for it.
SETTLE_TIMEOUT_S = 10.0
SETTLE_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class TopicOutcome:
    status: dict[str, Any]
    plan: TopicPlan | None
    rejected: str | None = None  # why the spec can never be applied as written


async def reconcile_topic(
    admin: TopicAdmin,
    *,
    resource_name: str,
    spec: Mapping[str, Any],
    generation: int | None,
    conditions: Sequence[Mapping[str, Any]] | None = None,
) -> TopicOutcome:
    try:
        desired = desired_topics(resource_name, spec)
    except InvalidTopicSpec as exc:
        return _rejected("InvalidSpec", str(exc), generation, conditions)
    actual = await admin.describe(desired.names)
    plan = plan_topics(desired, actual)
    try:
        await admin.apply(plan)
    except TopicRejected as exc:
        return _rejected(exc.reason, str(exc), generation, conditions, plan)
    if not plan.is_empty:
        actual = await _settled(admin, desired)
    return TopicOutcome(_status(desired, plan, actual, generation, conditions), plan)


async def _settled(admin: TopicAdmin, desired: DesiredTopics) -> dict[str, ActualTopic]:
    """The state after applying, once metadata shows every topic with at least its wanted size."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        actual = await admin.describe(desired.names)
        settled = all(t.name in actual and actual[t.name].partitions >= t.partitions for t in desired.topics)
        if settled or time.monotonic() >= deadline:
            return actual
        await asyncio.sleep(SETTLE_POLL_S)


def _status(
    desired: DesiredTopics,
    plan: TopicPlan,
    actual: Mapping[str, ActualTopic],
    generation: int | None,
    conditions: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    if plan.refusals:
        ready, reason = False, plan.refusals[0].reason
        message = "; ".join(r.message for r in plan.refusals)
    else:
        ready, reason = True, "Reconciled"
        message = f"{len(desired.topics)} topics match the spec ({_summary(plan)})"
    return {
        "observedGeneration": generation,
        "conditions": set_condition(
            conditions, type_=READY, status=ready, reason=reason, message=message, generation=generation
        ),
        "topics": [{"name": name, "partitions": actual[name].partitions} for name in desired.names if name in actual],
    }


def _summary(plan: TopicPlan) -> str:
    if plan.is_empty:
        return "no changes"
    parts = [
        f"created {len(plan.create)}" if plan.create else "",
        f"added partitions to {len(plan.raise_partitions)}" if plan.raise_partitions else "",
        f"altered config of {len(plan.alter_config)}" if plan.alter_config else "",
    ]
    return ", ".join(p for p in parts if p)


def _rejected(
    reason: str,
    message: str,
    generation: int | None,
    conditions: Sequence[Mapping[str, Any]] | None,
    plan: TopicPlan | None = None,
) -> TopicOutcome:
    status = {
        "observedGeneration": generation,
        "conditions": set_condition(
            conditions, type_=READY, status=False, reason=reason, message=message, generation=generation
        ),
    }
    return TopicOutcome(status, plan, rejected=message)


def broker_unavailable_status(
    message: str, generation: int | None, conditions: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """Ready=Unknown: the operator cannot tell whether Kafka matches the spec right now."""
    return {
        "conditions": set_condition(
            conditions, type_=READY, status=None, reason="BrokerUnavailable", message=message, generation=generation
        )
    }


async def delete_topics_of(admin: TopicAdmin, *, resource_name: str, spec: Mapping[str, Any]) -> list[str]:
    """Deletes the resource's topics when its deletionPolicy is Delete; returns what was deleted."""
    try:
        names = topics_to_delete(desired_topics(resource_name, spec))
    except InvalidTopicSpec:
        return []  # A spec that never produced topics has none to delete.
    await admin.delete(names)
    return names
