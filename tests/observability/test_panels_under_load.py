"""Every dashboard panel and every recording rule shows data on a real platform under a short
load: the Prometheus `ledgerline up` starts scrapes the shared test platform while deposits,
transfers, a refund and withdrawals run, among them a declined card, a failed payout, a request
refused as invalid and a webhook whose receiver is down until its delivery is dead-lettered, and
then replayed by the operator's replay handler, whose /metrics the same Prometheus scrapes.
Then each expression is evaluated through Prometheus's HTTP API, as Grafana would, and must
return at least one sample with a number: a panel that says "No data" on a working platform
hides a broken metric or a broken query."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import kopf
import pytest

from ledgerline.client import LedgerlineClient
from ledgerline.core import topics
from ledgerline.infra.platform import Platform
from ledgerline.infra.prometheus import OPERATOR, PrometheusServer, job_name
from ledgerline_operator import main as operator
from ledgerline_operator.settings import OperatorSettings
from tests.books import assert_books_balance, funded_wallet, wallet_minor
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.observability.queries import Query, dashboard_queries, rule_queries
from tests.polling import eventually

# Notification retries after 1 s and 2 s in the tests (tests/conftest.py): a delivery to a
# receiver that is down is dead-lettered within seconds; generous for a busy machine.
DEAD_LETTERED_WITHIN_S = 90.0
# A few scrapes and rule evaluations at five seconds, with room for a machine busy with other work.
DATA_WITHIN_S = 120.0
POLL_INTERVAL_S = 2.0
QUERY_TIMEOUT_S = 10.0
# The operator's shortest dead-letter depth interval, so the dead letter shows within the wait.
DEPTH_INTERVAL_S = "5"
# The dashboards' namespace variable set to "All": on a laptop series carry no namespace label.
ALL_NAMESPACES = ".*"


def _as_grafana_sends(expr: str) -> str:
    return expr.replace("$namespace", ALL_NAMESPACES)


async def _query(http: httpx.AsyncClient, prometheus: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    response = await http.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=QUERY_TIMEOUT_S)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _numbers(result: list[dict[str, Any]]) -> list[float]:
    """The sample values that a panel would draw: NaN (a quantile of no observations) is none."""
    values = [float(sample["value"][1]) for sample in result]
    return [value for value in values if not math.isnan(value)]


async def _dead_letter_a_webhook(
    client: LedgerlineClient, notifications: httpx.AsyncClient, receiver: WebhookReceiver, payer: str
) -> dict[str, Any]:
    """A transfer to a wallet whose webhook receiver is down: its delivery walks the retry
    topics to the dead-letter topic. Returns the notification once it is dead."""
    payee = await funded_wallet(client, "unreachable", "0")
    await receiver.subscribe(notifications, payee, f"/{uuid.uuid4().hex[:8]}/down")
    receiver.stop()  # Connection refused from now on.
    payment = await client.transfer(payer, payee, "1.00")
    assert payment["status"] == "COMPLETED", payment

    async def dead() -> dict[str, Any] | None:
        log = (await notifications.get("/v1/notifications", params={"wallet": payee})).json()
        mine = [n for n in log if n["payment_id"] == payment["id"] and n["status"] == "dead"]
        return mine[0] if mine else None

    notification = await eventually(dead, timeout_s=DEAD_LETTERED_WITHIN_S)
    assert notification, "the webhook delivery never reached the dead-letter topic"
    return dict(notification)


class _StatusLog:
    """The status subresource of the replay, outside a cluster: the reports, in order."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def reporter(self, plural: str, namespace: str, name: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def report(status: dict[str, Any]) -> None:
            self.reports.append(status)

        return report


async def _replay(
    platform: Platform, receiver: WebhookReceiver, notifications: httpx.AsyncClient, dead: dict[str, Any]
) -> None:
    """The receiver is back; the operator's replay daemon, called as kopf calls it, puts the dead
    letter back on its topic and the webhook is delivered."""
    receiver.start()
    statuses = _StatusLog()
    memo = kopf.Memo(
        settings=OperatorSettings(kafka_bootstrap_servers=platform.infra.kafka.bootstrap_servers),
        status_writer=statuses,
    )
    spec = {
        "sourceTopic": topics.dead_letter_topic(topics.NOTIFICATION_DELIVERIES),
        "filters": {"key": dead["id"], "originalTopic": topics.NOTIFICATION_DELIVERIES},
    }
    await operator.replay_dead_letters(
        name="panels", namespace="test", uid=str(uuid.uuid4()), spec=spec, status={}, meta={}, memo=memo
    )
    assert statuses.reports[-1]["phase"] == "Succeeded" and statuses.reports[-1]["counts"]["replayed"] == 1

    async def delivered() -> bool:
        log = (await notifications.get(f"/v1/notifications/{dead['id']}")).json()
        return bool(log["status"] == "delivered")

    assert await eventually(delivered, timeout_s=DEAD_LETTERED_WITHIN_S), "the replayed webhook was not delivered"


async def _drive_load(
    platform: Platform, client: LedgerlineClient, notifications: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    alice = await funded_wallet(client, "alice", "100.00")
    bob = await funded_wallet(client, "bob", "0")
    await receiver.subscribe(notifications, bob, f"/{uuid.uuid4().hex[:8]}/bob")
    transfers = await asyncio.gather(*(client.transfer(alice, bob, "2.50") for _ in range(6)))
    assert {p["status"] for p in transfers} == {"COMPLETED"}
    refund = await client.refund(transfers[0]["id"], "1.00")
    assert refund["status"] == "COMPLETED", refund
    paid_out = await client.withdraw(bob, "5.00")
    assert paid_out["status"] == "COMPLETED", paid_out

    declined = await client.deposit(bob, "10.00", card_token="tok_declined")
    assert (declined["status"], declined["failure_reason"]) == ("FAILED", "card_declined")
    failed_payout = await client.withdraw(alice, "10.00", bank_account="DE00FAIL0000")
    assert (failed_payout["status"], failed_payout["failure_reason"]) == ("COMPENSATED", "payout_failed")
    refused = await client.post_payment("/v1/transfers", {"source_wallet_id": alice, "amount": "-1"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"

    # 100 - 6 x 2.50 + 1.00 refunded - 1.00 to the unreachable wallet; the failed payout held
    # and released 10.00. Bob: 15.00 - 1.00 refunded - 5.00 paid out; the declined card nothing.
    dead = await _dead_letter_a_webhook(client, notifications, receiver, alice)
    await _replay(platform, receiver, notifications, dead)
    assert await wallet_minor(client, alice) == {"balance": 8500, "held": 0, "available": 8500}
    assert await wallet_minor(client, bob) == {"balance": 900, "held": 0, "available": 900}


async def _every_target_scraped(http: httpx.AsyncClient, prometheus: PrometheusServer, platform: Platform) -> bool:
    """Every service scraped successfully at least once: the samples from before the load that
    make its events a rate (on a busy machine a first scrape can time out)."""
    up = await _query(http, prometheus, "up == 1")
    return {sample["metric"]["job"] for sample in up} >= {job_name(service) for service in platform.services}


@pytest.fixture
async def operator_metrics(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """The operator's /metrics, served by its startup handler on the port the local Prometheus
    scrapes, with the dead-letter depths its other startup handler measures; the operator itself
    needs a cluster, its handlers do not."""
    monkeypatch.setenv("LEDGERLINE_OPERATOR_METRICS_PORT", str(platform.ports[OPERATOR]))
    monkeypatch.setenv("LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS", platform.infra.kafka.bootstrap_servers)
    monkeypatch.setenv("LEDGERLINE_OPERATOR_DEAD_LETTER_DEPTH_INTERVAL_S", DEPTH_INTERVAL_S)
    memo = kopf.Memo()
    await operator.serve_metrics(memo=memo)
    await operator.measure_dead_letter_depth(memo=memo)
    yield
    await operator.close(memo=memo)


async def _held_at_least_one(http: httpx.AsyncClient, prometheus: PrometheusServer, expr: str) -> bool:
    return any(value >= 1 for value in _numbers(await _query(http, prometheus, expr)))


async def _without_data(http: httpx.AsyncClient, prometheus: PrometheusServer, queries: list[Query]) -> list[Query]:
    empty = []
    for query in queries:
        if not _numbers(await _query(http, prometheus, _as_grafana_sends(query.expr))):
            empty.append(query)
    return empty


async def test_every_panel_and_recording_rule_shows_data_under_load(
    client: LedgerlineClient,
    notifications: httpx.AsyncClient,
    receiver: WebhookReceiver,
    local_prometheus: PrometheusServer,
    platform: Platform,
    operator_metrics: None,
) -> None:
    queries = dashboard_queries() + [query for query in rule_queries() if query.recording]
    assert len(queries) > len(rule_queries()), "no dashboard queries found"
    async with httpx.AsyncClient() as http:
        scraped = await eventually(lambda: _every_target_scraped(http, local_prometheus, platform), DATA_WITHIN_S)
        assert scraped, "Prometheus never scraped every service"
        await _drive_load(platform, client, notifications, receiver)
        waiting = queries
        deadline = time.monotonic() + DATA_WITHIN_S
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            waiting = await _without_data(http, local_prometheus, waiting)
        assert not waiting, "no data within {:.0f}s for:\n{}".format(
            DATA_WITHIN_S, "\n".join(f"{q.where}: {q.expr}" for q in waiting)
        )

        # The load's failures are where the panels say they are.
        by_reason = await _query(
            http, local_prometheus, "sum by (type, reason) (ledgerline_saga_outcomes_total{outcome!='completed'})"
        )
        reasons = {(s["metric"]["type"], s["metric"]["reason"]) for s in by_reason if float(s["value"][1]) > 0}
        assert {("deposit", "card_declined"), ("withdrawal", "payout_failed")} <= reasons
        dead_letters = f'ledgerline_dead_letters_total{{topic="{topics.NOTIFICATION_DELIVERIES}"}}'
        dead = await _query(http, local_prometheus, dead_letters)
        assert sum(float(s["value"][1]) for s in dead) >= 1, dead
        # Replayed, the dead letter is still held by its topic.
        dlq = topics.dead_letter_topic(topics.NOTIFICATION_DELIVERIES)
        held = f'ledgerline_operator_dead_letter_depth{{topic="{dlq}"}}'
        depth = await eventually(lambda: _held_at_least_one(http, local_prometheus, held), DATA_WITHIN_S)
        assert depth, await _query(http, local_prometheus, held)
    await assert_books_balance(client)
