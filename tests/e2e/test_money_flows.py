"""Deposits, transfers, withdrawals and refunds move exactly the money they say, over HTTP and
Kafka across the three services, on both Kafka backends; the books balance after each."""

from __future__ import annotations

import uuid

from ledgerline.client import LedgerlineClient
from ledgerline.core.contracts import settlement_account_id
from tests.books import assert_books_balance, funded_wallet, minor, wallet_minor


async def test_deposit_credits_the_wallet_and_debits_settlement(any_client: LedgerlineClient) -> None:
    settlement = str(settlement_account_id("EUR"))
    # Settlement accounts are the operator's to read.
    found = await any_client.ledger.get(f"/v1/accounts/{settlement}", auth=any_client.operator)
    before = found.json()["balance"] if found.status_code == 200 else "0.00"
    wallet = await any_client.open_wallet("dep-" + uuid.uuid4().hex[:8])
    payment = await any_client.deposit(wallet["id"], "125.50")
    assert payment["status"] == "COMPLETED"
    assert await wallet_minor(any_client, wallet["id"]) == {"balance": 12550, "held": 0, "available": 12550}
    account = await any_client.account(wallet["id"])
    assert minor(account["balance"]) == 12550
    after = (await any_client.account(settlement, as_operator=True))["balance"]
    assert minor(after) - minor(before) == -12550
    await assert_books_balance(any_client)


async def test_transfer_moves_money_between_wallets(any_client: LedgerlineClient) -> None:
    alice = await funded_wallet(any_client, "alice", "100.00")
    bob = await funded_wallet(any_client, "bob", "0")
    payment = await any_client.transfer(alice, bob, "40.25")
    assert payment["status"] == "COMPLETED"
    assert [h["to_status"] for h in payment["history"]] == ["INITIATED", "RESERVED", "POSTED", "COMPLETED"]
    assert await wallet_minor(any_client, alice) == {"balance": 5975, "held": 0, "available": 5975}
    assert await wallet_minor(any_client, bob) == {"balance": 4025, "held": 0, "available": 4025}
    entry = (await any_client.ledger.get(f"/v1/entries/{payment['id']}")).json()
    assert sorted(minor(p["amount"]) for p in entry["postings"]) == [-4025, 4025]
    await assert_books_balance(any_client)


async def test_withdrawal_pays_out_and_reduces_the_balance(any_client: LedgerlineClient) -> None:
    wallet = await funded_wallet(any_client, "carol", "50.00")
    payment = await any_client.withdraw(wallet, "20.00")
    assert payment["status"] == "COMPLETED"
    assert [h["to_status"] for h in payment["history"]] == ["INITIATED", "RESERVED", "PAID_OUT", "POSTED", "COMPLETED"]
    assert await wallet_minor(any_client, wallet) == {"balance": 3000, "held": 0, "available": 3000}
    await assert_books_balance(any_client)


async def test_partial_refunds_never_exceed_the_original(any_client: LedgerlineClient) -> None:
    alice = await funded_wallet(any_client, "alice", "100.00")
    bob = await funded_wallet(any_client, "bob", "0")
    transfer = await any_client.transfer(alice, bob, "30.00")
    first = await any_client.refund(transfer["id"], "10.00")
    assert first["status"] == "COMPLETED" and first["original_payment_id"] == transfer["id"]
    second = await any_client.refund(transfer["id"], "20.00")
    assert second["status"] == "COMPLETED"
    too_much = await any_client.post_payment(f"/v1/payments/{transfer['id']}/refunds", {"amount": "0.01"})
    assert too_much.status_code == 422
    assert too_much.headers["content-type"] == "application/problem+json"
    assert too_much.json()["code"] == "refund_exceeds_original"
    assert await wallet_minor(any_client, alice) == {"balance": 10000, "held": 0, "available": 10000}
    assert await wallet_minor(any_client, bob) == {"balance": 0, "held": 0, "available": 0}
    await assert_books_balance(any_client)


async def test_insufficient_funds_is_a_failed_payment_visible_on_get(any_client: LedgerlineClient) -> None:
    alice = await funded_wallet(any_client, "alice", "5.00")
    bob = await funded_wallet(any_client, "bob", "0")
    payment = await any_client.transfer(alice, bob, "5.01")
    assert (payment["status"], payment["failure_reason"]) == ("FAILED", "insufficient_funds")
    again = await any_client.get_payment(payment["id"])
    assert again["failure_reason"] == "insufficient_funds"
    assert await wallet_minor(any_client, alice) == {"balance": 500, "held": 0, "available": 500}
    await assert_books_balance(any_client)
