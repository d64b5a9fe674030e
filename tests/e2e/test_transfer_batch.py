"""Bulk APIs: each transfer of `POST /v1/transfers/batch` is accepted or refused on its own, a
replayed batch creates nothing new, a batch cannot spend money twice, the books balance, and
`POST /v1/wallets/batch` opens all its wallets (with their ledger accounts) or none. An atomic
transfer batch moves all its money or none: one overdraft fails every transfer and moves
nothing, a batch that fits completes whole, its group hold command again (the same id, a new one,
the saga timer's re-sends) has no effect, and one transfer refused at acceptance refuses the
batch and claims no id."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from ledgerline.client import LedgerlineClient
from ledgerline.core import contracts as c
from ledgerline.infra.platform import Platform
from ledgerline.payment.group_holds import group_command_id
from tests.books import assert_books_balance, funded_wallet, wallet_minor
from tests.kafka_producer import send_twice, started_producer
from tests.polling import eventually


def _transfer(source: str, destination: str, amount: str = "1.00", **extra: Any) -> dict[str, Any]:
    body = {"source_wallet_id": source, "destination_wallet_id": destination, "amount": amount, "currency": "EUR"}
    return {"id": str(uuid.uuid4()), **body, **extra}


async def _send(
    client: LedgerlineClient, transfers: list[dict[str, Any]], atomic: bool = False
) -> list[dict[str, Any]]:
    response = await client.payment.post("/v1/transfers/batch", json={"transfers": transfers, "atomic": atomic})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r["id"] for r in results] == [t["id"] for t in transfers]
    return results


async def test_each_transfer_stands_on_its_own_and_a_replay_creates_nothing(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "50.00")
    bob = await funded_wallet(client, "bob", "0")
    good = [_transfer(alice, bob, "2.00") for _ in range(5)]
    bad = [
        _transfer(alice, alice),
        _transfer(alice, str(uuid.uuid4())),
        _transfer(alice, bob, "1.001"),
    ]
    results = await _send(client, good + bad)
    assert [r["status"] for r in results] == [202] * 5 + [422] * 3
    assert [r["problem"]["code"] for r in results[5:]] == ["self_transfer", "unknown_wallet", "too_many_decimals"]
    payments = [await client.settle(r["payment"]["id"]) for r in results[:5]]
    assert {p["status"] for p in payments} == {"COMPLETED"}
    assert await wallet_minor(client, bob) == {"balance": 1000, "held": 0, "available": 1000}

    replayed = await _send(client, good)
    assert all(r["replayed"] for r in replayed)
    assert [r["payment"]["id"] for r in replayed] == [r["payment"]["id"] for r in results[:5]]
    alone = await client.payment.post(
        "/v1/transfers",
        json={k: v for k, v in good[1].items() if k != "id"},
        headers={"Idempotency-Key": good[1]["id"]},
    )
    assert alone.status_code == 202 and alone.json()["id"] == results[1]["payment"]["id"], (
        "a batch transfer's id sent alone with the same body is the same transfer"
    )
    changed = [{**good[0], "amount": "3.00"}]
    assert (await _send(client, changed))[0]["problem"]["code"] == "idempotency_key_reused"
    assert await wallet_minor(client, bob) == {"balance": 1000, "held": 0, "available": 1000}
    await assert_books_balance(client)


async def test_a_batch_cannot_spend_the_same_money_twice(client: LedgerlineClient) -> None:
    source = await funded_wallet(client, "spender", "10.00")
    sinks = [await funded_wallet(client, f"sink-{n}", "0") for n in range(4)]
    transfers = [_transfer(source, sinks[n % 4], "1.00") for n in range(30)]
    results = await _send(client, transfers)
    assert {r["status"] for r in results} == {202}
    finished = [await client.settle(r["payment"]["id"]) for r in results]
    completed = [p for p in finished if p["status"] == "COMPLETED"]
    assert len(completed) == 10
    assert {p["failure_reason"] for p in finished if p["status"] != "COMPLETED"} == {"insufficient_funds"}
    assert await wallet_minor(client, source) == {"balance": 0, "held": 0, "available": 0}
    await assert_books_balance(client)


async def test_batch_limits_are_enforced(client: LedgerlineClient) -> None:
    a = await client.open_wallet("limit-a")
    b = await client.open_wallet("limit-b")
    too_many = [_transfer(a["id"], b["id"]) for _ in range(1001)]
    response = await client.payment.post("/v1/transfers/batch", json={"transfers": too_many})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    same_id = _transfer(a["id"], b["id"])
    response = await client.payment.post("/v1/transfers/batch", json={"transfers": [same_id, same_id]})
    assert (response.status_code, response.json()["code"]) == (422, "duplicate_transfer_id")
    empty = await client.payment.post("/v1/transfers/batch", json={"transfers": []})
    assert empty.status_code == 422


async def test_wallets_open_in_bulk_all_or_none(client: LedgerlineClient) -> None:
    owner = client.user_id
    body = {"wallets": [{"currency": "EUR"} for _ in range(3)]}
    opened = await client.wallet.post("/v1/wallets/batch", json=body)
    assert opened.status_code == 201, opened.text
    ids = [item["id"] for item in opened.json()["items"]]
    assert len(set(ids)) == 3
    for wallet_id in ids:
        assert (await client.get_wallet(wallet_id))["balance"] == "0.00"

    async def ledger_has_accounts() -> bool:
        answers = [await client.ledger.get(f"/v1/accounts/{wallet_id}") for wallet_id in ids]
        return all(answer.status_code == 200 for answer in answers)

    assert await eventually(ledger_has_accounts), "the ledger never opened the bulk wallets' accounts"
    mixed = {"wallets": [{"currency": "EUR"}, {"currency": "XXX"}]}
    refused = await client.wallet.post("/v1/wallets/batch", json=mixed)
    assert (refused.status_code, refused.json()["code"]) == (422, "unknown_currency")
    assert "wallets[1].currency" in refused.json()["detail"]
    listed = await client.wallet.get(f"/v1/users/{owner}/wallets")
    assert len(listed.json()["items"]) == 3  # Nothing of the refused batch was opened.


async def test_one_overdraft_fails_every_transfer_and_moves_nothing(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "10.00")
    bob = await funded_wallet(client, "bob", "1.00")
    carol = await funded_wallet(client, "carol", "0")
    transfers = [_transfer(alice, bob, "4.00"), _transfer(alice, carol, "4.00"), _transfer(alice, bob, "4.00")]
    results = await _send(client, transfers, atomic=True)
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


async def test_a_batch_that_fits_completes_whole_and_its_hold_command_again_changes_nothing(
    client: LedgerlineClient, platform: Platform
) -> None:
    alice = await funded_wallet(client, "alice", "10.00")
    bob = await funded_wallet(client, "bob", "0")
    carol = await funded_wallet(client, "carol", "0")
    transfers = [_transfer(alice, bob, "3.50"), _transfer(alice, carol, "2.25"), _transfer(alice, bob, "4.25")]
    results = await _send(client, transfers, atomic=True)
    finished = [await client.settle(r["payment"]["id"]) for r in results]
    assert [p["status"] for p in finished] == ["COMPLETED"] * 3
    assert await wallet_minor(client, alice) == {"balance": 0, "held": 0, "available": 0}
    assert await wallet_minor(client, bob) == {"balance": 775, "held": 0, "available": 775}
    assert await wallet_minor(client, carol) == {"balance": 225, "held": 0, "available": 225}

    replayed = await _send(client, transfers, atomic=True)
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
    async with started_producer(platform, "atomic-batch-test") as producer:
        await send_twice(producer, message, same_id=False)
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

    results = await _send(client, good, atomic=True)  # The same ids, now free: accepted, not replayed.
    assert [(r["status"], r["replayed"]) for r in results] == [(202, False)] * 2
    assert [(await client.settle(r["payment"]["id"]))["status"] for r in results] == ["COMPLETED"] * 2
    assert await wallet_minor(client, bob) == {"balance": 300, "held": 0, "available": 300}

    reused = [{**good[0], "amount": "0.50"}, _transfer(alice, bob, "0.50")]
    response = await client.payment.post("/v1/transfers/batch", json={"transfers": reused, "atomic": True})
    assert (response.status_code, response.json()["code"]) == (422, "batch_refused")
    assert [t["problem"]["code"] for t in response.json()["transfers"]] == ["idempotency_key_reused"]
    assert await wallet_minor(client, alice) == {"balance": 200, "held": 0, "available": 200}
    await assert_books_balance(client)


async def _group_attempts(platform: Platform, group_id: str) -> list[int]:
    dsn = platform.infra.database_url("payment").replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT attempts FROM payments WHERE group_id = $1", uuid.UUID(group_id))
        return [row["attempts"] for row in rows]
    finally:
        await connection.close()


async def test_the_saga_timer_resends_the_group_hold_and_it_is_held_once(
    client: LedgerlineClient, platform: Platform
) -> None:
    alice = await funded_wallet(client, "alice", "6.00")
    bob = await funded_wallet(client, "bob", "1.00")
    platform.stop_service("wallet")  # No hold is answered: the payment service re-sends the group's.
    try:
        results = await _send(client, [_transfer(alice, bob, "2.00") for _ in range(3)], atomic=True)
        group_id = results[0]["payment"]["group_id"]

        async def resent() -> bool:
            attempts = await _group_attempts(platform, group_id)
            return len(attempts) == 3 and min(attempts) >= 1

        assert await eventually(resent), "the saga timer never re-sent the group's hold"
    finally:
        platform.start_service("wallet")
    assert [(await client.settle(r["payment"]["id"]))["status"] for r in results] == ["COMPLETED"] * 3
    assert await wallet_minor(client, alice) == {"balance": 0, "held": 0, "available": 0}
    assert await wallet_minor(client, bob) == {"balance": 700, "held": 0, "available": 700}
    await assert_books_balance(client)
