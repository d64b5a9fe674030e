"""The kopf handlers, called as kopf would call them but without an API server, write the status
their modules compute and sort failures correctly: Kafka out of reach is a TemporaryError with
a delay, a spec that cannot work is a PermanentError."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest

from ledgerline.infra.process import free_port
from ledgerline_operator import main
from ledgerline_operator.conditions import find_condition
from ledgerline_operator.replay_spec import REPLAY_ID_HEADER
from ledgerline_operator.settings import OperatorSettings
from tests.operator.conftest import Letter, StatusLog, dlq_of, header, read_topic, topic_names, write_dead_letters

LOG = logging.getLogger(__name__)


class FakeStatusWriter:
    """Stands in for the API server's status subresource: one StatusLog per resource."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, str, str], StatusLog] = {}

    def reporter(self, plural: str, namespace: str, name: str) -> StatusLog:
        return self.logs.setdefault((plural, namespace, name), StatusLog())


def memo_for(bootstrap: str) -> kopf.Memo:
    return kopf.Memo(
        settings=OperatorSettings(kafka_bootstrap_servers=bootstrap),
        status_writer=FakeStatusWriter(),
        topic_deletion=asyncio.Lock(),
    )


def unreachable() -> str:
    return f"127.0.0.1:{free_port()}"


async def call_reconcile(memo: kopf.Memo, spec: dict[str, Any], patch: kopf.Patch, status: Any = None) -> None:
    await main.reconcile_topics(
        name="payments", spec=spec, meta={"generation": 3}, status=status or {}, patch=patch, memo=memo
    )


def ready_of(patch: kopf.Patch) -> dict[str, Any]:
    condition = find_condition(patch["status"]["conditions"], "Ready")
    assert condition is not None
    return dict(condition)


async def test_reconcile_handler_writes_ready_status(bootstrap: str, topic_name: str) -> None:
    patch = kopf.Patch()
    await call_reconcile(memo_for(bootstrap), {"topicName": topic_name, "partitions": 2}, patch)
    assert ready_of(patch)["status"] == "True"
    assert patch["status"]["observedGeneration"] == 3
    assert {topic_name, f"{topic_name}.dlq"} <= await topic_names(bootstrap)


async def test_reconcile_handler_gives_up_on_an_invalid_spec(bootstrap: str, topic_name: str) -> None:
    patch = kopf.Patch()
    with pytest.raises(kopf.PermanentError, match="partitions"):
        await call_reconcile(memo_for(bootstrap), {"topicName": topic_name, "partitions": 0}, patch)
    assert ready_of(patch)["status"] == "False" and ready_of(patch)["reason"] == "InvalidSpec"


async def test_reconcile_handler_retries_when_kafka_is_unreachable() -> None:
    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError) as raised:
        await call_reconcile(memo_for(unreachable()), {"partitions": 1}, patch)
    assert raised.value.delay == main.BROKER_RETRY_DELAY_S
    assert ready_of(patch)["status"] == "Unknown" and ready_of(patch)["reason"] == "BrokerUnavailable"


async def test_delete_handler_runs_only_for_delete_policy_and_removes_topics(bootstrap: str, topic_name: str) -> None:
    spec = {"topicName": topic_name, "partitions": 1, "deletionPolicy": "Delete"}
    await call_reconcile(memo_for(bootstrap), spec, kopf.Patch())
    assert main._deletes_topics(spec=spec) and not main._deletes_topics(spec={**spec, "deletionPolicy": "Retain"})
    await main.delete_topics(name="payments", spec=spec, memo=memo_for(bootstrap), logger=LOG)
    assert not {topic_name, f"{topic_name}.dlq"} & await topic_names(bootstrap)
    with pytest.raises(kopf.TemporaryError):
        await main.delete_topics(name="payments", spec=spec, memo=memo_for(unreachable()), logger=LOG)


async def test_topics_are_not_deleted_while_dead_letter_depths_are_measured(bootstrap: str, topic_name: str) -> None:
    spec = {"topicName": topic_name, "partitions": 1, "deletionPolicy": "Delete"}
    memo = memo_for(bootstrap)
    await call_reconcile(memo, spec, kopf.Patch())
    async with memo.topic_deletion:  # as a measurement in progress holds it
        deleting = asyncio.create_task(main.delete_topics(name="payments", spec=spec, memo=memo, logger=LOG))
        await asyncio.sleep(0.5)
        assert not deleting.done()
        assert {topic_name, f"{topic_name}.dlq"} <= await topic_names(bootstrap)
    await asyncio.wait_for(deleting, timeout=30)
    assert not {topic_name, f"{topic_name}.dlq"} & await topic_names(bootstrap)


async def call_replay(memo: kopf.Memo, spec: dict[str, Any], uid: str = "uid-1") -> StatusLog:
    await main.replay_dead_letters(
        name="r", namespace="ns", uid=uid, spec=spec, status={}, meta={"generation": 1}, memo=memo
    )
    return memo.status_writer.logs[("deadletterreplays", "ns", "r")]


async def test_replay_daemon_reports_through_the_status_writer(bootstrap: str, topic_name: str) -> None:
    await write_dead_letters(bootstrap, dlq_of(topic_name), [Letter("a", topic_name), Letter("b", topic_name)])
    log = await call_replay(memo_for(bootstrap), {"sourceTopic": dlq_of(topic_name)}, uid="uid-42")
    assert log.last["phase"] == "Succeeded" and log.last["observedGeneration"] == 1
    assert [header(r, REPLAY_ID_HEADER) for r in await read_topic(bootstrap, topic_name)] == ["uid-42", "uid-42"]
    assert not main._replay_unfinished(status=log.last) and main._replay_unfinished(status={})


async def test_replay_daemon_fails_permanently_on_a_bad_spec(bootstrap: str) -> None:
    memo = memo_for(bootstrap)
    with pytest.raises(kopf.PermanentError, match="ratePerSecond"):
        await call_replay(memo, {"sourceTopic": "x.dlq", "ratePerSecond": 0})
    assert memo.status_writer.logs[("deadletterreplays", "ns", "r")].last["phase"] == "Failed"


async def test_replay_daemon_retries_when_kafka_is_unreachable() -> None:
    with pytest.raises(kopf.TemporaryError) as raised:
        await call_replay(memo_for(unreachable()), {"sourceTopic": "x.dlq"})
    assert raised.value.delay == main.BROKER_RETRY_DELAY_S


async def test_startup_sets_persistence_finalizer_and_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_cluster() -> FakeStatusWriter:
        return FakeStatusWriter()

    monkeypatch.setattr(main.StatusWriter, "connect", no_cluster)
    monkeypatch.setenv("LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS", "kafka-bootstrap:9092")
    settings, memo = kopf.OperatorSettings(), kopf.Memo()
    await main.configure(settings=settings, memo=memo)
    assert settings.persistence.finalizer == "ledgerline.io/operator"
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert settings.watching.server_timeout == main.WATCH_SERVER_TIMEOUT_S
    assert settings.networking.request_timeout == main.API_REQUEST_TIMEOUT_S
    assert memo.settings.kafka_bootstrap_servers == "kafka-bootstrap:9092"
