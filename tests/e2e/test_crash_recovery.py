"""A service killed after it committed but before its relay published loses nothing: after a
restart the committed event is published and the saga completes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import asyncpg

from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, wallet_minor
from tests.polling import eventually


async def outbox_types(platform: Platform, service: str) -> list[str]:
    dsn = platform.infra.database_url(service).replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        return [row["type"] for row in await connection.fetch("SELECT type FROM outbox ORDER BY id")]
    finally:
        await connection.close()


async def _empty(types: Awaitable[list[str]]) -> bool:
    return await types == []


async def test_wallet_crash_between_commit_and_publish(client: LedgerlineClient, platform: Platform) -> None:
    alice = await funded_wallet(client, "alice", "30.00")
    bob = await funded_wallet(client, "bob", "0")
    # The relay is switched off: the wallet commits its reply to the outbox and never publishes it,
    # which is exactly the state a crash right after commit leaves behind.
    platform.stop_service("wallet")
    platform.start_service("wallet", {"LEDGERLINE_WALLET_OUTBOX_RELAY_ENABLED": "false"})
    try:
        response = await client.post_payment(
            "/v1/transfers",
            {"source_wallet_id": alice, "destination_wallet_id": bob, "amount": "12.00", "currency": "EUR"},
        )
        payment_id = response.json()["id"]

        async def reply_committed() -> bool:
            return "io.ledgerline.wallet.funds_reserved" in await outbox_types(platform, "wallet")

        assert await eventually(reply_committed), "the wallet never committed its reply"
        assert (await wallet_minor(client, alice))["held"] == 1200
        assert (await client.get_payment(payment_id))["status"] == "INITIATED"
    finally:
        platform.stop_service("wallet", crash=True)
        platform.start_service("wallet")
    payment = await client.settle(payment_id)
    assert payment["status"] == "COMPLETED"
    # The relay deletes a row only after Kafka acknowledged it, so the payment may complete a
    # moment before the last reply's row is gone.
    assert await eventually(lambda: _empty(outbox_types(platform, "wallet"))), "the wallet outbox never drained"
    assert await wallet_minor(client, alice) == {"balance": 1800, "held": 0, "available": 1800}
    assert await wallet_minor(client, bob) == {"balance": 1200, "held": 0, "available": 1200}
    await assert_books_balance(client)


async def test_payment_service_killed_mid_saga_finishes_after_restart(
    client: LedgerlineClient, platform: Platform
) -> None:
    alice = await funded_wallet(client, "alice", "30.00")
    bob = await funded_wallet(client, "bob", "0")
    keys = [str(uuid.uuid4()) for _ in range(5)]
    responses = [
        await client.post_payment(
            "/v1/transfers",
            {"source_wallet_id": alice, "destination_wallet_id": bob, "amount": "2.00", "currency": "EUR"},
            key,
        )
        for key in keys
    ]
    platform.stop_service("payment", crash=True)
    platform.start_service("payment")
    results = [await client.settle(r.json()["id"]) for r in responses]
    assert [r["status"] for r in results] == ["COMPLETED"] * 5
    assert await wallet_minor(client, alice) == {"balance": 2000, "held": 0, "available": 2000}
    await assert_books_balance(client)
