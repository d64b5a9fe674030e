"""Planning a LedgerlineTopic: from the desired spec and the state Kafka reports to a plan.

Pure values and functions only; `topic_admin` reads the state and applies the plan. The plan
never shrinks a topic, never changes a replication factor and never deletes a topic: those
are refusals, reported in the Ready condition and left for a human to resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerline.core.topics import dead_letter_topic, retry_topic

# Kafka's own limit on topic names; the retry and dead-letter suffixes count against it.
TOPIC_NAME_CHARS_MAX = 249
# The CRD bounds, repeated so a spec that somehow skipped schema validation is still refused.
PARTITIONS_MIN = 1
PARTITIONS_MAX = 1000
REPLICATION_FACTOR_MIN = 1
REPLICATION_FACTOR_MAX = 32
RETRY_TOPICS_MAX = 10
RETRY_DELAY_S_MIN = 1
TOPIC_NAME_PATTERN = re.compile(r"[a-zA-Z0-9._-]+")
REPLICATION_FACTOR_DEFAULT = 1
DELETION_POLICIES = ("Retain", "Delete")

REFUSED_SHRINK = "PartitionShrinkRefused"
REFUSED_REPLICATION_CHANGE = "ReplicationFactorChangeRefused"


class InvalidTopicSpec(ValueError):
    """A spec no Kafka topic can be built from; retrying will not help."""


@dataclass(frozen=True, slots=True)
class DesiredTopic:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesiredTopics:
    """The main topic first, then its retry topics in order, then its dead-letter topic."""

    topics: tuple[DesiredTopic, ...]
    deletion_policy: str

    @property
    def names(self) -> list[str]:
        return [topic.name for topic in self.topics]


@dataclass(frozen=True, slots=True)
class ActualTopic:
    """What Kafka reports for one existing topic. `dynamic_keys` are the configs set on the topic
    itself (not inherited from the broker); empty when the broker does not say."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)
    dynamic_keys: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Refusal:
    topic: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class TopicPlan:
    create: tuple[DesiredTopic, ...] = ()
    raise_partitions: tuple[tuple[str, int], ...] = ()
    # AlterConfigs replaces a topic's whole dynamic config, so each entry carries the full set.
    alter_config: tuple[tuple[str, Mapping[str, str]], ...] = ()
    refusals: tuple[Refusal, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Nothing to apply (refusals are reported, not applied)."""
        return not (self.create or self.raise_partitions or self.alter_config)


def desired_topics(resource_name: str, spec: Mapping[str, Any]) -> DesiredTopics:
    """The topics a LedgerlineTopic spec asks for, checked against the CRD's bounds."""
    name = str(spec.get("topicName") or resource_name)
    partitions = _bounded(spec.get("partitions"), "partitions", PARTITIONS_MIN, PARTITIONS_MAX)
    replication = _bounded(
        spec.get("replicationFactor", REPLICATION_FACTOR_DEFAULT),
        "replicationFactor",
        REPLICATION_FACTOR_MIN,
        REPLICATION_FACTOR_MAX,
    )
    if not TOPIC_NAME_PATTERN.fullmatch(name):
        raise InvalidTopicSpec(f"topic name {name!r} may only hold letters, digits, '.', '_' and '-'")
    delays = list((spec.get("retry") or {}).get("delaysSeconds") or [])
    if len(delays) > RETRY_TOPICS_MAX:
        raise InvalidTopicSpec(f"retry.delaysSeconds has {len(delays)} entries; at most {RETRY_TOPICS_MAX}")
    for delay in delays:
        _bounded(delay, "each retry delay", RETRY_DELAY_S_MIN, None)  # The CRD sets no maximum.
    config = {str(key): str(value) for key, value in (spec.get("config") or {}).items()}
    names = [name] + [retry_topic(name, n) for n in range(1, len(delays) + 1)]
    if (spec.get("deadLetter") or {}).get("enabled", True):
        names.append(dead_letter_topic(name))
    too_long = [n for n in names if len(n) > TOPIC_NAME_CHARS_MAX]
    if too_long:
        raise InvalidTopicSpec(f"topic name {too_long[-1]!r} is longer than Kafka's {TOPIC_NAME_CHARS_MAX} characters")
    policy = str(spec.get("deletionPolicy", "Retain"))
    if policy not in DELETION_POLICIES:
        raise InvalidTopicSpec(f"deletionPolicy {policy!r} is not one of {', '.join(DELETION_POLICIES)}")
    topics = tuple(DesiredTopic(n, partitions, replication, config) for n in names)
    return DesiredTopics(topics, policy)


def _bounded(value: Any, name: str, low: int, high: int | None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise InvalidTopicSpec(f"{name} must be an integer {bounds}, not {value!r}")
    return value


def plan_topics(desired: DesiredTopics, actual: Mapping[str, ActualTopic]) -> TopicPlan:
    """What to do so Kafka matches `desired`; `actual` holds only the topics that exist."""
    create: list[DesiredTopic] = []
    raises: list[tuple[str, int]] = []
    alters: list[tuple[str, Mapping[str, str]]] = []
    refusals: list[Refusal] = []
    for want in desired.topics:
        have = actual.get(want.name)
        if have is None:
            create.append(want)
            continue
        if want.partitions > have.partitions:
            raises.append((want.name, want.partitions))
        elif want.partitions < have.partitions:
            refusals.append(
                Refusal(
                    want.name,
                    REFUSED_SHRINK,
                    f"{want.name} has {have.partitions} partitions and Kafka cannot remove partitions; "
                    f"spec.partitions {want.partitions} is refused (set it to {have.partitions} or more)",
                )
            )
        if want.replication_factor != have.replication_factor:
            refusals.append(
                Refusal(
                    want.name,
                    REFUSED_REPLICATION_CHANGE,
                    f"{want.name} has replication factor {have.replication_factor}; changing it to "
                    f"{want.replication_factor} needs a partition reassignment, which the operator does not do",
                )
            )
        if config_differs(want.config, have):
            alters.append((want.name, dict(want.config)))
    return TopicPlan(tuple(create), tuple(raises), tuple(alters), tuple(refusals))


def config_differs(wanted: Mapping[str, str], have: ActualTopic) -> bool:
    """A wanted value is missing or different, or the topic carries a config the spec dropped."""
    if any(have.config.get(key) != value for key, value in wanted.items()):
        return True
    return bool(have.dynamic_keys - set(wanted))


def topics_to_delete(desired: DesiredTopics) -> list[str]:
    """The topics removed with the resource: all of them under Delete, none under Retain."""
    return desired.names if desired.deletion_policy == "Delete" else []
