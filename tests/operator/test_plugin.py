"""The kubectl plugin builds DeadLetterReplays the CRD accepts, refuses options the operator would
refuse before reaching the cluster, and follows a real replay's status to its end."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping
from typing import Any

import yaml
from rich.console import Console
from typer.testing import CliRunner

from ledgerline_operator.plugin import app, follow_replay, replays_table
from ledgerline_operator.replay import run_replay
from tests.k8s import crdschemas
from tests.k8s.test_operator_crds import REPLAY
from tests.operator.conftest import Letter, StatusLog, dlq_of, write_dead_letters

runner = CliRunner()


def test_replay_manifest_validates_against_the_crd() -> None:
    result = runner.invoke(
        app,
        ["replay", "--source", "ledgerline.payment.events.v1.dlq", "--since", "2026-01-15T10:00:00Z",
         "--until", "2026-01-15T11:00:00Z", "--error-contains", "timeout", "--key", "pay-1",
         "--original-topic", "ledgerline.payment.events.v1", "--max-messages", "50", "--rate", "10",
         "--dry-run", "--namespace", "ledgerline", "--name", "replay-timeouts", "--output", "yaml"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = yaml.safe_load(result.output)
    assert crdschemas.errors(crdschemas.own_schemas()[REPLAY], body) == []
    assert body["metadata"] == {"name": "replay-timeouts", "namespace": "ledgerline"}
    assert body["spec"] == {
        "sourceTopic": "ledgerline.payment.events.v1.dlq",
        "dryRun": True,
        "filters": {"since": "2026-01-15T10:00:00Z", "until": "2026-01-15T11:00:00Z", "errorContains": "timeout",
                    "key": "pay-1", "originalTopic": "ledgerline.payment.events.v1"},
        "maxMessages": 50,
        "ratePerSecond": 10,
    }  # fmt: skip


def test_without_a_name_the_api_server_generates_one() -> None:
    result = runner.invoke(app, ["replay", "--source", "a.dlq", "-o", "json"])
    body = json.loads(result.output)
    assert body["metadata"] == {"generateName": "replay-"}
    assert crdschemas.errors(crdschemas.own_schemas()[REPLAY], body) == []


def test_options_the_operator_would_refuse_are_refused_before_anything_is_created() -> None:
    for args, words in [
        (["--source", "ledgerline.payment.events.v1"], "ending in .dlq"),
        (["--source", "a.dlq", "--rate", "0"], "ratePerSecond"),
        (["--source", "a.dlq", "--max-messages", "-1"], "maxMessages"),
        (["--source", "a.dlq", "--since", "yesterday"], "RFC 3339"),
    ]:
        result = runner.invoke(app, ["replay", *args])
        assert result.exit_code == 2 and words in result.output, (args, result.output)


async def test_follow_draws_a_real_replay_until_it_succeeds(bootstrap: str, topic_name: str) -> None:
    letters = [Letter(f"p{i}", topic_name, "TimeoutError" if i % 2 else "KeyError") for i in range(10)]
    await write_dead_letters(bootstrap, dlq_of(topic_name), letters)
    log, out = StatusLog(), io.StringIO()

    def fetch() -> Mapping[str, Any] | None:
        return log.statuses[-1] if log.statuses else None

    spec = {"sourceTopic": dlq_of(topic_name), "filters": {"errorContains": "Timeout"}}
    follower = asyncio.to_thread(follow_replay, fetch, out=Console(file=out, width=120), poll_interval_s=0.05)
    final, followed = await asyncio.gather(
        run_replay(bootstrap, replay_id="follow", spec=spec, status=None, report=log), follower
    )
    assert followed == final
    assert "Succeeded: matched 5, replayed 5, scanned" in out.getvalue()
    assert "Succeeded: replayed 5 of 10 dead letters" in out.getvalue()


def test_replays_table_lists_phase_and_counts() -> None:
    item = {
        "metadata": {"name": "r1", "namespace": "ledgerline"},
        "spec": {"sourceTopic": "a.dlq", "dryRun": True},
        "status": {"phase": "Running", "counts": {"scanned": 7, "matched": 3, "replayed": 0}},
    }
    out = io.StringIO()
    Console(file=out, width=120).print(
        replays_table([item, {"metadata": {"name": "r2"}, "spec": {"sourceTopic": "b.dlq"}}])
    )
    lines = [line.split() for line in out.getvalue().splitlines() if "a.dlq" in line or "b.dlq" in line]
    assert [w for w in lines[0] if w != "│"] == ["ledgerline", "r1", "a.dlq", "Running", "7", "3", "0", "true"]
    assert [w for w in lines[1] if w != "│"] == ["r2", "b.dlq", "Pending", "0", "0", "0", "false"]
