"""An Idempotency-Key yields one payment: replays return the first response, a changed body is
refused, and concurrent identical requests still create exactly one payment."""

from __future__ import annotations

import asyncio
import uuid

from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, wallet_minor


async def test_replay_returns_the_first_response(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "50.00")
    bob = await funded_wallet(client, "bob", "0")
    key = str(uuid.uuid4())
    body = {"source_wallet_id": alice, "destination_wallet_id": bob, "amount": "10.00", "currency": "EUR"}
    first = await client.post_payment("/v1/transfers", body, key)
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    await client.settle(first.json()["id"])
    replay = await client.post_payment("/v1/transfers", body, key)
    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    changed = await client.post_payment("/v1/transfers", body | {"amount": "11.00"}, key)
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency_key_reused"
    assert await wallet_minor(client, alice) == {"balance": 4000, "held": 0, "available": 4000}
    await assert_books_balance(client)


async def test_concurrent_identical_requests_make_one_payment(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "50.00")
    bob = await funded_wallet(client, "bob", "0")
    key = str(uuid.uuid4())
    body = {"source_wallet_id": alice, "destination_wallet_id": bob, "amount": "7.00", "currency": "EUR"}
    responses = await asyncio.gather(*(client.post_payment("/v1/transfers", body, key) for _ in range(8)))
    created = [r for r in responses if r.status_code == 202]
    assert created, [r.status_code for r in responses]
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    assert all(r.status_code in (202, 409) for r in responses)
    assert all(r.json()["code"] == "idempotency_key_in_flight" for r in responses if r.status_code == 409)
    await client.settle(created[0].json()["id"])
    assert await wallet_minor(client, alice) == {"balance": 4300, "held": 0, "available": 4300}
    assert await wallet_minor(client, bob) == {"balance": 700, "held": 0, "available": 700}
    await assert_books_balance(client)


async def test_the_database_guarantees_one_payment_when_redis_forgets(
    client: LedgerlineClient, platform: Platform
) -> None:
    import redis.asyncio as aioredis

    wallet = await client.open_wallet("r")
    key = str(uuid.uuid4())
    body = {"wallet_id": wallet["id"], "amount": "3.00", "currency": "EUR", "card_token": "tok_visa"}
    first = await client.post_payment("/v1/deposits", body, key)
    await client.settle(first.json()["id"])
    redis = aioredis.from_url(platform.infra.redis.url)
    await redis.flushall()
    await redis.aclose()
    replay = await client.post_payment("/v1/deposits", body, key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert await wallet_minor(client, wallet["id"]) == {"balance": 300, "held": 0, "available": 300}
    await assert_books_balance(client)
