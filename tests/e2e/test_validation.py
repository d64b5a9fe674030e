"""Bad requests get RFC 9457 problems with a precise code and move no money."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ledgerline.client import LedgerlineClient
from tests.books import assert_books_balance, funded_wallet, wallet_minor


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith(code) and body["title"]


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        ("0.00", "EUR", "non_positive_amount"),
        ("-1.00", "EUR", "non_positive_amount"),
        ("1.001", "EUR", "too_many_decimals"),
        ("1.5", "JPY", "too_many_decimals"),
        ("1e2", "EUR", "malformed_amount"),
    ],
)
async def test_bad_amounts_are_rejected(client: LedgerlineClient, amount: str, currency: str, code: str) -> None:
    a = await client.open_wallet("v", currency)
    b = await client.open_wallet("v", currency)
    response = await client.post_payment(
        "/v1/transfers",
        {"source_wallet_id": a["id"], "destination_wallet_id": b["id"], "amount": amount, "currency": currency},
    )
    assert_problem(response, 422, code)


async def test_wallet_problems_are_clear(client: LedgerlineClient) -> None:
    alice = await funded_wallet(client, "alice", "10.00")
    usd = await client.open_wallet("bob", "USD")
    body = {"source_wallet_id": alice, "destination_wallet_id": str(uuid.uuid4()), "amount": "1.00", "currency": "EUR"}
    assert_problem(await client.post_payment("/v1/transfers", body), 422, "unknown_wallet")
    body["destination_wallet_id"] = usd["id"]
    assert_problem(await client.post_payment("/v1/transfers", body), 422, "currency_mismatch")
    body["destination_wallet_id"] = alice
    assert_problem(await client.post_payment("/v1/transfers", body), 422, "self_transfer")
    other = await client.open_wallet("carol")
    frozen = await client.wallet.post(f"/v1/wallets/{alice}/freeze")
    assert frozen.json()["status"] == "frozen"
    body["destination_wallet_id"] = other["id"]
    # The wallet service refuses the hold: the payment fails as it does for insufficient funds.
    refused = await client.post_payment("/v1/transfers", body)
    assert refused.status_code == 202, refused.text
    failed = await client.settle(refused.json()["id"])
    assert (failed["status"], failed["failure_reason"]) == ("FAILED", "wallet_frozen")
    await client.wallet.post(f"/v1/wallets/{alice}/unfreeze")
    assert await wallet_minor(client, alice) == {"balance": 1000, "held": 0, "available": 1000}
    assert_problem(await client.wallet.get(f"/v1/wallets/{uuid.uuid4()}"), 404, "wallet_not_found")
    assert_problem(
        await client.wallet.post("/v1/wallets", json={"owner_id": "x", "currency": "XXX"}), 422, "unknown_currency"
    )
    await assert_books_balance(client)


async def test_idempotency_key_is_required_on_money_moving_posts(client: LedgerlineClient) -> None:
    wallet = await client.open_wallet("k")
    response = await client.payment.post(
        "/v1/deposits", json={"wallet_id": wallet["id"], "amount": "1.00", "currency": "EUR", "card_token": "tok"}
    )
    assert_problem(response, 400, "idempotency_key_missing")
    assert_problem(
        await client.payment.post("/v1/transfers", json={"amount": 5}, headers={"Idempotency-Key": "x"}),
        422,
        "validation_error",
    )
