"""The Kafka admin adapter for topics: reads what exists and applies a `TopicPlan`.

Broker errors arrive as `kafka_errors.BrokerUnavailable` (try again later) or `TopicRejected`
(Kafka refused the request itself, e.g. a replication factor above the broker count or an
unknown config key; retrying the same spec cannot succeed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from ledgerline.core.kafka_clients import REQUEST_TIMEOUT_MS
from ledgerline_operator.kafka_errors import CONNECT_TIMEOUT_S, check_code, guarded
from ledgerline_operator.topic_plan import ActualTopic, TopicPlan

# DescribeConfigs v1+ config_source value for a config set on the topic itself.
CONFIG_SOURCE_DYNAMIC_TOPIC = 1
# Index of each field in a DescribeConfigs config_entries tuple (v1+).
_ENTRY_NAME, _ENTRY_VALUE, _ENTRY_SOURCE = 0, 1, 3


class TopicAdmin:
    """`async with TopicAdmin(servers) as admin:` reads topics and applies plans."""

    def __init__(self, bootstrap_servers: str, *, request_timeout_ms: int = REQUEST_TIMEOUT_MS) -> None:
        self._timeout_ms = request_timeout_ms
        self._client = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=request_timeout_ms)

    async def __aenter__(self) -> TopicAdmin:
        await guarded("connect", lambda: asyncio.wait_for(self._client.start(), CONNECT_TIMEOUT_S))
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._client.close()

    async def describe(self, names: Sequence[str]) -> dict[str, ActualTopic]:
        """The topics among `names` that exist, with partitions, replicas and configs."""
        found = await self.layout(names)
        configs = await self._configs(list(found))
        return {
            name: ActualTopic(name, count, replicas, configs[name][0], configs[name][1])
            for name, (count, replicas) in found.items()
        }

    async def layout(self, names: Sequence[str] | None) -> dict[str, tuple[int, int]]:
        """{name: (partition count, replication factor)} of the topics among `names` that exist
        (every topic when `names` is None).

        It asks for every topic's metadata: a Metadata request naming a missing topic lets a
        broker with auto-creation on (tansu always; Apache Kafka by default) create it.
        """
        wanted = None if names is None else set(names)
        described = await guarded("describe topics", lambda: self._client.describe_topics(None))
        found: dict[str, tuple[int, int]] = {}
        for topic in described:
            if wanted is not None and topic["topic"] not in wanted:
                continue
            check_code(topic["error_code"], None, f"describe {topic['topic']}", ignore=[UnknownTopicOrPartitionError])
            if topic["error_code"] == 0 and topic["partitions"]:
                partitions = topic["partitions"]
                found[topic["topic"]] = (len(partitions), len(partitions[0]["replicas"]))
        return found

    async def _configs(self, names: list[str]) -> dict[str, tuple[dict[str, str], frozenset[str]]]:
        if not names:
            return {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        responses = await guarded("describe configs", lambda: self._client.describe_configs(resources))
        result: dict[str, tuple[dict[str, str], frozenset[str]]] = {}
        for response in responses:
            for code, message, _type, name, entries in response.resources:
                check_code(code, message, f"describe configs of {name}")
                values = {e[_ENTRY_NAME]: e[_ENTRY_VALUE] for e in entries if e[_ENTRY_VALUE] is not None}
                dynamic = frozenset(e[_ENTRY_NAME] for e in entries if e[_ENTRY_SOURCE] == CONFIG_SOURCE_DYNAMIC_TOPIC)
                result[name] = (values, dynamic)
        return result

    async def apply(self, plan: TopicPlan) -> None:
        """Creates, then raises partitions, then alters configs; refusals are not touched."""
        if plan.create:
            new = [
                NewTopic(t.name, t.partitions, t.replication_factor, topic_configs=dict(t.config)) for t in plan.create
            ]
            response = await guarded("create topics", lambda: self._client.create_topics(new, self._timeout_ms))
            for name, code, message in response.topic_errors:
                # Another writer may have created it since we looked; it exists either way.
                check_code(code, message, f"create {name}", ignore=[TopicAlreadyExistsError])
        if plan.raise_partitions:
            counts = {name: NewPartitions(total) for name, total in plan.raise_partitions}
            await guarded("create partitions", lambda: self._client.create_partitions(counts, self._timeout_ms))
        if plan.alter_config:
            await self._alter(plan.alter_config)

    async def _alter(self, alters: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name, configs=dict(c)) for name, c in alters]
        responses: list[Any] = await guarded("alter configs", lambda: self._client.alter_configs(resources))
        for response in responses:
            for code, message, _type, name in response.resources:
                check_code(code, message, f"alter configs of {name}")

    async def delete(self, names: Sequence[str]) -> None:
        """Deletes the topics; ones already gone are fine."""
        if not names:
            return
        response = await guarded("delete topics", lambda: self._client.delete_topics(list(names), self._timeout_ms))
        for name, code in response.topic_error_codes:
            check_code(code, None, f"delete {name}", ignore=[UnknownTopicOrPartitionError])
