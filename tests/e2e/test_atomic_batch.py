"""An atomic transfer batch moves all its money or none: one overdraft fails every transfer and
moves nothing, a batch that fits completes whole, the group's hold command twice has one effect,
and one refused transfer refuses the whole batch at acceptance without claiming an id."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from ledgerline.client import LedgerlineClient
from ledgerline.core import contracts as c
from ledgerline.core.events import encode
from ledgerline.core.kafka_clients import create_producer
from ledgerline.infra.platform import Platform
from ledgerline.payment.group_holds import group_command_id
from tests.books import assert_books_balance, funded_wallet, wallet_minor


def _transfer(source: str, destination: str, amount: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "source_wallet_id": source,
        "destination_wallet_id": destination,
        "amount": amount,
        "currency": "EUR",
    }


async def _atomic(client: LedgerlineClient, transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await client.payment.post("/v1/transfers/batch", json={"transfers": transfers, "atomic": True})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r["id"] for r in results] == [t["id"] for t in transfers]
    return results


async def test_one_overdraft_fails_every_transfer_and_moves_nothing(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "10.00")
    bob = await funded_wallet(client, "bob", "1.00")
    carol = await funded_wallet(client, "carol", "0")
    transfers = [_transfer(alice, bob, "4.00"), _transfer(alice, carol, "4.00"), _transfer(alice, bob, "4.00")]
    results = await _atomic(client, transfers)
    assert {r["status"] for r in results} == {202}
    assert len({r["payment"]["group_id"] for r in results}) == 1
    finished = [await client.settle(r["payment"]["id"]) for r in results]
    assert [p["status"] for p in finished] == ["FAILED"] * 3
    reasons = sorted(p["failure_reason"] for p in finished)
    assert reasons == ["insufficient_funds", "linked_transfer_failed", "linked_transfer_failed"]
    assert await wallet_minor(client, alice) == {"balance": 1000, "held": 0, "available": 1000}
    assert await wallet_minor(client, bob) == {"balance": 100, "held": 0, "available": 100}
    assert await wallet_minor(client, carol) == {"balance": 0, "held": 0, "available": 0}
    await assert_books_balance(client)


@pytest.fixture
async def producer(platform: Platform) -> AsyncIterator[AIOKafkaProducer]:
    kafka = create_producer(platform.infra.kafka.bootstrap_servers, "atomic-batch-test")
    await kafka.start()
    yield kafka
    await kafka.stop()


async def test_a_batch_that_fits_completes_whole_and_its_hold_command_again_changes_nothing(
    client: LedgerlineClient, producer: AIOKafkaProducer
) -> None:
    alice = await funded_wallet(client, "alice", "10.00")
    bob = await funded_wallet(client, "bob", "0")
    carol = await funded_wallet(client, "carol", "0")
    transfers = [_transfer(alice, bob, "3.50"), _transfer(alice, carol, "2.25"), _transfer(alice, bob, "4.25")]
    results = await _atomic(client, transfers)
    finished = [await client.settle(r["payment"]["id"]) for r in results]
    assert [p["status"] for p in finished] == ["COMPLETED"] * 3
    assert await wallet_minor(client, alice) == {"balance": 0, "held": 0, "available": 0}
    assert await wallet_minor(client, bob) == {"balance": 775, "held": 0, "available": 775}
    assert await wallet_minor(client, carol) == {"balance": 225, "held": 0, "available": 225}

    replayed = await _atomic(client, transfers)
    assert all(r["replayed"] for r in replayed)
    assert [r["payment"]["id"] for r in replayed] == [r["payment"]["id"] for r in results]

    # The group's hold command again, as a saga re-send (same id) and as a copy with a new id.
    group_id = uuid.UUID(results[0]["payment"]["group_id"])
    holds = tuple(
        c.GroupHold(
            payment_id=uuid.UUID(p["id"]), wallet_id=uuid.UUID(alice), amount_minor=int(p["amount"].replace(".", ""))
        )
        for p in sorted(finished, key=lambda p: p["id"])
    )
    command = c.ReserveGroup(group_id=group_id, currency="EUR", holds=holds)
    message = c.message(
        c.RESERVE_GROUP, command, key=str(group_id), source="/tests/atomic", message_id=group_command_id(group_id)
    )
    for copy in (message, dataclasses.replace(message, id=str(uuid.uuid4()))):
        key, value, headers = encode(copy)
        await (await producer.send(copy.topic, value=value, key=key, headers=headers))
    await asyncio.sleep(2.0)  # Give both copies every chance to be applied.
    assert await wallet_minor(client, alice) == {"balance": 0, "held": 0, "available": 0}
    assert [(await client.get_payment(p["id"]))["status"] for p in finished] == ["COMPLETED"] * 3
    await assert_books_balance(client)


async def test_one_refused_transfer_refuses_the_batch_and_claims_no_id(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "5.00")
    bob = await funded_wallet(client, "bob", "0")
    good = [_transfer(alice, bob, "1.00"), _transfer(alice, bob, "2.00")]
    unknown = _transfer(alice, str(uuid.uuid4()), "1.00")
    response = await client.payment.post("/v1/transfers/batch", json={"transfers": [*good, unknown], "atomic": True})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "batch_refused"
    assert [(t["id"], t["problem"]["code"]) for t in problem["transfers"]] == [(unknown["id"], "unknown_wallet")]
    history = await client.payment.get("/v1/payments", params={"wallet_id": alice})
    assert [p["type"] for p in history.json()["items"]] == ["deposit"]  # No transfer was written.

    results = await _atomic(client, good)  # The same ids, now free: accepted, not replayed.
    assert [(r["status"], r["replayed"]) for r in results] == [(202, False)] * 2
    assert [(await client.settle(r["payment"]["id"]))["status"] for r in results] == ["COMPLETED"] * 2
    assert await wallet_minor(client, bob) == {"balance": 300, "held": 0, "available": 300}

    reused = [{**good[0], "amount": "0.50"}, _transfer(alice, bob, "0.50")]
    response = await client.payment.post("/v1/transfers/batch", json={"transfers": reused, "atomic": True})
    assert (response.status_code, response.json()["code"]) == (422, "batch_refused")
    assert [t["problem"]["code"] for t in response.json()["transfers"]] == ["idempotency_key_reused"]
    assert await wallet_minor(client, alice) == {"balance": 200, "held": 0, "available": 200}
    await assert_books_balance(client)
