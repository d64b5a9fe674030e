"""The operator's /metrics: served over HTTP on its own port by the startup handler, counting
topic reconciliations and their errors, and showing each replay's counts, progress and phase
as the replay reports them; the series of the oldest replays go beyond the bound."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import kopf
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ledgerline.infra.process import free_port
from ledgerline_operator import main
from ledgerline_operator.metrics import OPERATOR_REGISTRY, REPLAY_KINDS, ReplayMetrics, scanned_ratio
from tests.operator.conftest import Letter, dlq_of, write_dead_letters
from tests.operator.test_kopf_handlers import call_reconcile, call_replay, memo_for, unreachable

SCRAPE_TIMEOUT_S = 10.0


def value(name: str, **labels: str) -> float:
    return OPERATOR_REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def metrics_url(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    port = free_port()
    monkeypatch.setenv("LEDGERLINE_OPERATOR_METRICS_PORT", str(port))
    memo = kopf.Memo()
    await main.serve_metrics(memo=memo)
    yield f"http://127.0.0.1:{port}/metrics"
    await main.close(memo=memo)


async def test_the_startup_handler_serves_the_operator_metrics(metrics_url: str) -> None:
    async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as http:
        text = (await http.get(metrics_url)).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"ledgerline_operator_topics_reconciled", "ledgerline_operator_topic_reconcile_errors"} <= names
    errors = {
        sample.labels["reason"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ledgerline_operator_topic_reconcile_errors_total"
    }
    assert errors == {"kafka_unavailable", "rejected"}  # At zero before the first error.


async def test_reconciliations_and_their_errors_are_counted(bootstrap: str, topic_name: str) -> None:
    reconciled = value("ledgerline_operator_topics_reconciled_total")
    rejected = value("ledgerline_operator_topic_reconcile_errors_total", reason="rejected")
    unavailable = value("ledgerline_operator_topic_reconcile_errors_total", reason="kafka_unavailable")
    await call_reconcile(memo_for(bootstrap), {"topicName": topic_name, "partitions": 1}, kopf.Patch())
    with pytest.raises(kopf.PermanentError):
        await call_reconcile(memo_for(bootstrap), {"topicName": topic_name, "partitions": 0}, kopf.Patch())
    with pytest.raises(kopf.TemporaryError):
        await call_reconcile(memo_for(unreachable()), {"partitions": 1}, kopf.Patch())
    assert value("ledgerline_operator_topics_reconciled_total") == reconciled + 1
    assert value("ledgerline_operator_topic_reconcile_errors_total", reason="rejected") == rejected + 1
    assert value("ledgerline_operator_topic_reconcile_errors_total", reason="kafka_unavailable") == unavailable + 1


async def test_a_replay_shows_its_counts_progress_and_phase(bootstrap: str, topic_name: str) -> None:
    letters = [Letter("a", topic_name), Letter("b", topic_name), Letter("c", topic_name, error="other")]
    await write_dead_letters(bootstrap, dlq_of(topic_name), letters)
    log = await call_replay(
        memo_for(bootstrap), {"sourceTopic": dlq_of(topic_name), "filters": {"errorContains": "bank"}}
    )
    assert log.last["phase"] == "Succeeded"
    replay = "ns/r"
    assert {kind: value("ledgerline_operator_replay_messages", replay=replay, kind=kind) for kind in REPLAY_KINDS} == {
        "scanned": 3,
        "matched": 2,
        "replayed": 2,
        "skipped": 0,
    }
    assert value("ledgerline_operator_replay_progress_ratio", replay=replay) == 1.0
    phases = {p: value("ledgerline_operator_replay_phase", replay=replay, phase=p) for p in ("Running", "Succeeded")}
    assert phases == {"Running": 0, "Succeeded": 1}


def test_progress_is_the_share_of_offsets_scanned() -> None:
    partitions = [
        {"partition": 0, "startOffset": 0, "endOffset": 10, "nextOffset": 5},
        {"partition": 1, "startOffset": 10, "endOffset": 20, "nextOffset": 10},
    ]
    assert scanned_ratio({"phase": "Running", "partitions": partitions}) == 0.25
    assert scanned_ratio({"phase": "Running", "partitions": []}) == 0.0
    assert scanned_ratio({"phase": "Succeeded", "partitions": []}) == 1.0


def test_only_the_latest_replays_keep_series() -> None:
    shown = ReplayMetrics(shown_max=2)
    for name in ("bound/one", "bound/two", "bound/three"):
        shown.report(name, {"phase": "Running", "counts": {"scanned": 1}})
    assert (
        OPERATOR_REGISTRY.get_sample_value("ledgerline_operator_replay_progress_ratio", {"replay": "bound/one"}) is None
    )
    assert value("ledgerline_operator_replay_messages", replay="bound/three", kind="scanned") == 1
    assert value("ledgerline_operator_replay_phase", replay="bound/two", phase="Running") == 1
