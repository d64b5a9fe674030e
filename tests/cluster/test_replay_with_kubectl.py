"""Proves dead-lettered webhook notifications of real transfers are replayed through a
DeadLetterReplay applied with kubectl and run by the operator under its chart RBAC: each reaches the
receiver exactly once (also across an operator restart mid-replay), kubectl shows the outcome, and
the kubectl plugin's dry run counts without sending."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ledgerline.client import LedgerlineClient
from ledgerline.core import topics
from ledgerline.infra.platform import Platform
from ledgerline.infra.process import log_tail
from tests.books import funded_wallet
from tests.cluster.harness import ControlPlane
from tests.cluster.releases import VENV_BIN, LocalOperator, wait_for
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.polling import eventually

DEAD_LETTER_TIMEOUT_S = 40.0
REPLAY_TIMEOUT_S = 60.0
FIRST_DELIVERY_TIMEOUT_S = 30.0
NO_MORE_DELIVERIES_S = 3.0  # quiet period after which no late duplicate is expected
PLUGIN_TIMEOUT_S = 60.0
NOTIFICATIONS = 3
DLQ = topics.dead_letter_topic(topics.NOTIFICATION_DELIVERIES)


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"replay-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def dead_letters_for_new_transfers(
    client: LedgerlineClient, notifications: httpx.AsyncClient, receiver: WebhookReceiver, platform: Platform
) -> tuple[str, list[str]]:
    """With the receiver down, NOTIFICATIONS transfers to a subscribed wallet end as dead letters.
    Returns the webhook path and the dead notification ids; the receiver is back up afterwards."""
    alice = await funded_wallet(client, "alice", "50.00")
    bob = await funded_wallet(client, "bob", "0")
    path = f"/{uuid.uuid4().hex[:8]}/bob"
    await receiver.subscribe(notifications, bob, path)
    receiver.stop()
    payments = [(await client.transfer(alice, bob, f"{n + 1}.00"))["id"] for n in range(NOTIFICATIONS)]

    async def dead() -> list[str]:
        log = (await notifications.get("/v1/notifications", params={"wallet": bob})).json()
        found = [n["id"] for n in log if n["payment_id"] in payments and n["status"] == "dead"]
        return found if len(found) == NOTIFICATIONS else []

    ids = await eventually(dead, DEAD_LETTER_TIMEOUT_S)
    assert ids, (
        f"{NOTIFICATIONS} notifications never all reached the DLQ:\n{log_tail(platform.log_path('notification'))}"
    )
    assert posts_per_webhook_id(receiver, path) == {}, "delivered although the receiver was down"
    receiver.start()
    return path, ids


def posts_per_webhook_id(receiver: WebhookReceiver, path: str) -> Counter[str]:
    """Raw POSTs (duplicates not dropped) per webhook-id, for one subscription."""
    return Counter(d.webhook_id for d in list(receiver.deliveries) if d.body["_path"] == path)


def replay_object(name: str, namespace: str, since: str, rate: int) -> dict[str, Any]:
    return {
        "apiVersion": "ledgerline.io/v1alpha1",
        "kind": "DeadLetterReplay",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "sourceTopic": DLQ,
            "filters": {"originalTopic": topics.NOTIFICATION_DELIVERIES, "since": since},
            "ratePerSecond": rate,
        },
    }


def replay_status(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    obj = json.loads(plane.kubectl("get", "deadletterreplay", name, "-n", namespace, "-o", "json"))
    status: dict[str, Any] = obj.get("status") or {}
    return status


def wait_for_phase(plane: ControlPlane, operator: LocalOperator, namespace: str, name: str) -> dict[str, Any]:
    wait_for(
        f"DeadLetterReplay {namespace}/{name} to finish",
        lambda: replay_status(plane, namespace, name).get("phase") in ("Succeeded", "Failed"),
        REPLAY_TIMEOUT_S,
        lambda: f"status: {json.dumps(replay_status(plane, namespace, name))}\n{operator.tail()}",
    )
    return replay_status(plane, namespace, name)


async def assert_each_delivered_once(receiver: WebhookReceiver, path: str, ids: list[str], context: str) -> None:
    got_all = await eventually(lambda: len(posts_per_webhook_id(receiver, path)) == len(ids), REPLAY_TIMEOUT_S)
    assert got_all, (
        f"not every replayed notification reached the receiver: {posts_per_webhook_id(receiver, path)}\n{context}"
    )
    await asyncio.sleep(NO_MORE_DELIVERIES_S)
    posts = posts_per_webhook_id(receiver, path)
    assert set(posts) == set(ids), posts
    assert all(count == 1 for count in posts.values()), f"duplicate deliveries: {posts}\n{context}"


def kubectl_plugin(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl ledgerline ...` exactly as a user runs it: kubectl finds kubectl-ledgerline on PATH;
    the plugin reads the kubeconfig from KUBECONFIG."""
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "KUBECONFIG": str(plane.admin_kubeconfig)}
    return subprocess.run(
        [str(plane.kubectl_binary), "ledgerline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=PLUGIN_TIMEOUT_S,
    )


async def test_kubectl_applied_replay_delivers_each_dead_letter_once(
    control_plane: ControlPlane,
    local_operator: LocalOperator,
    client: LedgerlineClient,
    notifications: httpx.AsyncClient,
    receiver: WebhookReceiver,
    platform: Platform,
    namespace: str,
) -> None:
    plane = control_plane
    since = rfc3339_now()
    path, ids = await dead_letters_for_new_transfers(client, notifications, receiver, platform)

    manifest = json.dumps(replay_object("notifications-back", namespace, since, rate=50))
    plane.kubectl("apply", "-f", "-", input=manifest)
    status = wait_for_phase(plane, local_operator, namespace, "notifications-back")
    assert status["phase"] == "Succeeded", status
    assert status["counts"]["matched"] == NOTIFICATIONS and status["counts"]["replayed"] == NOTIFICATIONS, status
    await assert_each_delivered_once(receiver, path, ids, local_operator.tail())
    for notification_id in ids:
        log = (await notifications.get(f"/v1/notifications/{notification_id}")).json()
        assert log["status"] == "delivered", log

    table = plane.kubectl("get", "deadletterreplays", "-n", namespace)
    header, row = table.strip().splitlines()
    assert header.split() == ["NAME", "SOURCE", "PHASE", "MATCHED", "REPLAYED", "DRYRUN", "AGE"], table
    assert row.split()[:6] == ["notifications-back", DLQ, "Succeeded", str(NOTIFICATIONS), str(NOTIFICATIONS), "false"]

    # The plugin's dry run counts the same dead letters and sends nothing.
    result = kubectl_plugin(
        plane,
        "replay",
        "--source",
        DLQ,
        "--original-topic",
        topics.NOTIFICATION_DELIVERIES,
        "--since",
        since,
        "--dry-run",
        "--name",
        "dry-run",
        "-n",
        namespace,
    )
    assert result.returncode == 0, (
        f"plugin failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{local_operator.tail()}"
    )
    assert f"matched {NOTIFICATIONS}" in result.stdout and "Succeeded" in result.stdout, result.stdout
    dry = replay_status(plane, namespace, "dry-run")
    assert dry["phase"] == "Succeeded" and dry["counts"]["matched"] == NOTIFICATIONS, dry
    assert dry["counts"].get("replayed", 0) == 0, dry
    await asyncio.sleep(NO_MORE_DELIVERIES_S)
    assert sum(posts_per_webhook_id(receiver, path).values()) == NOTIFICATIONS, posts_per_webhook_id(receiver, path)
    assert local_operator.forbidden() == [], "\n".join(local_operator.forbidden())


async def test_operator_restart_mid_replay_delivers_nothing_twice(
    control_plane: ControlPlane,
    local_operator: LocalOperator,
    client: LedgerlineClient,
    notifications: httpx.AsyncClient,
    receiver: WebhookReceiver,
    platform: Platform,
    namespace: str,
) -> None:
    plane = control_plane
    since = rfc3339_now()
    path, ids = await dead_letters_for_new_transfers(client, notifications, receiver, platform)

    plane.kubectl("apply", "-f", "-", input=json.dumps(replay_object("slow", namespace, since, rate=1)))
    wait_for(
        "the first replayed notification at the receiver",
        lambda: len(posts_per_webhook_id(receiver, path)) >= 1,
        FIRST_DELIVERY_TIMEOUT_S,
        local_operator.tail,
    )
    local_operator.stop()  # SIGTERM mid-replay, as a rolling update of the operator would
    delivered_before_restart = len(posts_per_webhook_id(receiver, path))
    assert delivered_before_restart < NOTIFICATIONS, "the replay finished before the restart; lower ratePerSecond"
    assert replay_status(plane, namespace, "slow").get("phase") not in ("Succeeded", "Failed")
    local_operator.start()

    status = wait_for_phase(plane, local_operator, namespace, "slow")
    assert status["phase"] == "Succeeded", status
    assert status["counts"]["replayed"] == NOTIFICATIONS, status
    await assert_each_delivered_once(receiver, path, ids, local_operator.tail())
    assert local_operator.forbidden() == [], "\n".join(local_operator.forbidden())
