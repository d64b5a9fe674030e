"""Overload is refused at the door: with more sagas running than the payment service allows, a
new payment gets 503 with Retry-After and creates nothing; once the backlog drains, payments
are accepted again and every accepted one completes."""

from __future__ import annotations

import uuid

from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, wallet_minor
from tests.polling import eventually

ACTIVE_MAX = 3


def _transfer(source: str, destination: str) -> dict[str, str]:
    return {"source_wallet_id": source, "destination_wallet_id": destination, "amount": "1.00", "currency": "EUR"}


async def test_a_full_saga_backlog_sheds_new_payments(client: LedgerlineClient, platform: Platform) -> None:
    alice = await funded_wallet(client, "alice", "20.00")
    bob = await funded_wallet(client, "bob", "0")
    # The payment service learns both wallets before the wallet service goes away.
    assert (await client.transfer(alice, bob, "1.00"))["status"] == "COMPLETED"
    platform.stop_service("payment")
    platform.start_service("payment", {"LEDGERLINE_PAYMENT_ACTIVE_PAYMENTS_MAX": str(ACTIVE_MAX)})
    accepted: list[str] = []
    try:
        # With the wallet service down, sagas wait at their first step and stay active.
        platform.stop_service("wallet")
        for _ in range(ACTIVE_MAX):
            response = await client.post_payment("/v1/transfers", _transfer(alice, bob))
            assert response.status_code == 202, response.text
            accepted.append(response.json()["id"])

        async def shed() -> bool:
            response = await client.post_payment("/v1/transfers", _transfer(alice, bob), str(uuid.uuid4()))
            if response.status_code == 202:
                accepted.append(response.json()["id"])
                return False
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "overloaded"
            assert int(response.headers["Retry-After"]) >= 1
            return True

        assert await eventually(shed, timeout_s=20), "new payments were never refused"
    finally:
        platform.start_service("wallet")
    finished = [await client.settle(payment_id) for payment_id in accepted]
    assert {p["status"] for p in finished} == {"COMPLETED"}

    async def accepted_again() -> bool:
        response = await client.post_payment("/v1/transfers", _transfer(alice, bob), str(uuid.uuid4()))
        if response.status_code == 202:
            accepted.append(response.json()["id"])
        return response.status_code == 202

    assert await eventually(accepted_again, timeout_s=20), "payments were still refused after the backlog drained"
    await client.settle(accepted[-1])
    platform.stop_service("payment")
    platform.start_service("payment")
    assert (await wallet_minor(client, bob))["balance"] == 100 * (len(accepted) + 1)
    await assert_books_balance(client)
