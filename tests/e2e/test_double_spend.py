"""Fifty concurrent transfers out of a wallet funded for ten: exactly ten complete, forty fail with
insufficient funds, and available never drops below zero."""

from __future__ import annotations

import asyncio

from ledgerline.client import LedgerlineClient
from tests.books import assert_books_balance, funded_wallet, wallet_minor

TRANSFERS = 50
FUNDED_FOR = 10


async def test_fifty_concurrent_transfers_spend_the_money_once(client: LedgerlineClient) -> None:
    source = await funded_wallet(client, "spender", f"{FUNDED_FOR * 10}.00")
    sinks = [await funded_wallet(client, f"sink-{i}", "0") for i in range(5)]
    lowest_available: list[int] = []
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            lowest_available.append((await wallet_minor(client, source))["available"])
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    bodies = [
        {
            "source_wallet_id": source,
            "destination_wallet_id": sinks[i % len(sinks)],
            "amount": "10.00",
            "currency": "EUR",
        }
        for i in range(TRANSFERS)
    ]
    accepted = await asyncio.gather(*(client.post_payment("/v1/transfers", body) for body in bodies))
    assert all(r.status_code == 202 for r in accepted), [r.text for r in accepted if r.status_code != 202]
    results = await asyncio.gather(*(client.settle(r.json()["id"]) for r in accepted))
    stop.set()
    await watcher
    statuses = [(r["status"], r["failure_reason"]) for r in results]
    assert statuses.count(("COMPLETED", None)) == FUNDED_FOR
    assert statuses.count(("FAILED", "insufficient_funds")) == TRANSFERS - FUNDED_FOR
    assert min(lowest_available) >= 0
    assert await wallet_minor(client, source) == {"balance": 0, "held": 0, "available": 0}
    received = [(await wallet_minor(client, sink))["balance"] for sink in sinks]
    assert sum(received) == FUNDED_FOR * 1000
    await assert_books_balance(client)
