"""When a later step fails, the saga undoes the earlier ones: holds are released, charges are
refunded, and the payment ends COMPENSATED or FAILED with its reason; no money moves."""

from __future__ import annotations

import asyncio

from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, wallet_minor
from tests.polling import eventually


async def ledger_account_opened(client: LedgerlineClient, wallet_id: str) -> None:
    """The ledger opens a wallet's account when it sees the wallet-opened event."""

    async def opened() -> bool:
        return (await client.ledger.get(f"/v1/accounts/{wallet_id}")).status_code == 200

    assert await eventually(opened), f"no ledger account for wallet {wallet_id}"


async def test_ledger_rejection_releases_the_hold(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "40.00")
    closed = (await client.open_wallet("closed"))["id"]
    await ledger_account_opened(client, closed)
    response = await client.ledger.post(f"/v1/accounts/{closed}/close")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    payment = await client.transfer(alice, closed, "15.00")
    assert (payment["status"], payment["failure_reason"]) == ("COMPENSATED", "ledger_rejected:account_closed")
    assert [h["to_status"] for h in payment["history"]] == ["INITIATED", "RESERVED", "COMPENSATING", "COMPENSATED"]
    assert await wallet_minor(client, alice) == {"balance": 4000, "held": 0, "available": 4000}
    assert await wallet_minor(client, closed) == {"balance": 0, "held": 0, "available": 0}
    await assert_books_balance(client)


async def test_an_account_with_money_cannot_close(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "1.00")
    response = await client.ledger.post(f"/v1/accounts/{alice}/close")
    assert response.status_code == 409 and response.json()["code"] == "account_not_empty"


async def test_failed_payout_releases_the_hold(client: LedgerlineClient) -> None:
    wallet = await funded_wallet(client, "dave", "25.00")
    payment = await client.withdraw(wallet, "10.00", bank_account="DE00FAIL0000")
    assert (payment["status"], payment["failure_reason"]) == ("COMPENSATED", "payout_failed")
    assert await wallet_minor(client, wallet) == {"balance": 2500, "held": 0, "available": 2500}
    await assert_books_balance(client)


async def test_declined_card_fails_the_deposit(client: LedgerlineClient) -> None:
    wallet = (await client.open_wallet("erin"))["id"]
    payment = await client.deposit(wallet, "10.00", card_token="tok_declined")
    assert (payment["status"], payment["failure_reason"]) == ("FAILED", "card_declined")
    assert await wallet_minor(client, wallet) == {"balance": 0, "held": 0, "available": 0}
    await assert_books_balance(client)


async def test_deposit_into_a_closed_account_refunds_the_charge(client: LedgerlineClient) -> None:
    wallet = (await client.open_wallet("frank"))["id"]
    await ledger_account_opened(client, wallet)
    assert (await client.ledger.post(f"/v1/accounts/{wallet}/close")).status_code == 200
    payment = await client.deposit(wallet, "9.00")
    assert (payment["status"], payment["failure_reason"]) == ("COMPENSATED", "ledger_rejected:account_closed")
    assert "CHARGED" in [h["to_status"] for h in payment["history"]]
    assert await wallet_minor(client, wallet) == {"balance": 0, "held": 0, "available": 0}
    await assert_books_balance(client)


async def test_bank_outage_opens_the_circuit_and_the_deposit_fails_cleanly(
    client: LedgerlineClient, platform: Platform
) -> None:
    import httpx

    wallet = (await client.open_wallet("gina"))["id"]
    async with httpx.AsyncClient(base_url=platform.url("banksim")) as bank:
        await bank.put("/v1/admin/behaviour", json={"latency_ms": 0, "failure_rate_percent": 100})
        try:
            payment = await client.post_payment(
                "/v1/deposits", {"wallet_id": wallet, "amount": "5.00", "currency": "EUR", "card_token": "tok_visa"}
            )
            await asyncio.sleep(4)
            assert (await client.get_payment(payment.json()["id"]))["status"] == "INITIATED"
        finally:
            await bank.put("/v1/admin/behaviour", json={"latency_ms": 0, "failure_rate_percent": 0})
    # The bank answered 503s (it may have received the request): the step is retried, never
    # guessed, and completes once the bank is back.
    done = await client.settle(payment.json()["id"])
    assert done["status"] == "COMPLETED"
    assert await wallet_minor(client, wallet) == {"balance": 500, "held": 0, "available": 500}
    await assert_books_balance(client)
