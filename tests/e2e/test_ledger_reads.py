"""The ledger's read side: history in keyset pages without gaps or repeats, balances as of any
past time from running balances, and metrics that count what happened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from ledgerline.client import LedgerlineClient
from tests.books import assert_books_balance, funded_wallet, minor


async def test_history_pages_and_balance_as_of(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "10.00")
    bob = await funded_wallet(client, "bob", "0")
    checkpoints = []
    for _ in range(7):
        await client.transfer(alice, bob, "1.00")
        await asyncio.sleep(0.02)
        checkpoints.append(datetime.now(UTC))
    seen, cursor, pages = [], None, 0
    while True:
        page = await client.entries(alice, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert [item["sequence"] for item in seen] == list(range(8, 0, -1))
    assert [minor(item["balance_after"]) for item in seen] == [300, 400, 500, 600, 700, 800, 900, 1000]
    for transfers_done, moment in enumerate(checkpoints, start=1):
        response = await client.ledger.get(f"/v1/accounts/{alice}/balance", params={"as_of": moment.isoformat()})
        assert minor(response.json()["balance"]) == 1000 - 100 * transfers_done
    before = await client.ledger.get(f"/v1/accounts/{alice}/balance", params={"as_of": "2000-01-01T00:00:00Z"})
    assert before.json()["balance"] == "0.00"
    naive = await client.ledger.get(f"/v1/accounts/{alice}/balance", params={"as_of": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["code"] == "naive_time"
    bad = await client.ledger.get(f"/v1/accounts/{alice}/entries", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
    await assert_books_balance(client)


def samples(text: str, name: str) -> list[dict[str, str]]:
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.value > 0
    ]


async def test_metrics_count_sagas_postings_and_outbox(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "5.00")
    bob = await funded_wallet(client, "bob", "0")
    await client.transfer(alice, bob, "9.00")
    payment = (await client.payment.get("/metrics")).text
    outcomes = samples(payment, "ledgerline_saga_outcomes_total")
    assert {"type": "deposit", "outcome": "completed", "reason": "none"} in outcomes
    assert {"type": "transfer", "outcome": "failed", "reason": "insufficient_funds"} in outcomes
    assert {"currency": "EUR"} in samples((await client.ledger.get("/metrics")).text, "ledgerline_postings_total")
    wallet = (await client.wallet.get("/metrics")).text
    assert samples(wallet, "ledgerline_outbox_published_total")
    requests = samples(wallet, "ledgerline_http_requests_total")
    assert {"service": "wallet", "method": "POST", "route": "/v1/wallets", "status": "201"} in requests
