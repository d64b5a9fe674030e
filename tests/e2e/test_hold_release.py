"""A hold its failed payment left behind, found by `ledgerline verify`, is released by an operator
with a reason: the money is available again, the release is audited in the wallet database, the
books pass verify, and a hold whose payment is still in flight, or already released, is refused."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from ledgerline.client import LedgerlineClient
from ledgerline.core.problems import PROBLEM_MEDIA_TYPE
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, minor, wallet_minor
from tests.conftest import operator_auth
from tests.e2e.test_verify import found, run_verify, wrong
from tests.polling import eventually

# Below the payment service's bank timeout (5 s): the payout succeeds, slowly, while the test asks.
SLOW_BANK_LATENCY_MS = 4_000


@pytest.fixture
async def operator(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.url("wallet"), auth=operator_auth(platform), timeout=30) as http:
        yield http


async def strand_hold(platform: Platform, payment_id: str, amount_minor: int) -> None:
    """Put back, as lost data would, a live hold for a payment that has ended."""
    dsn = platform.infra.database_url("wallet").replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            wallet_id = await connection.fetchval(
                "UPDATE holds SET status = 'held', reason = NULL, amount_minor = $2 WHERE payment_id = $1"
                " RETURNING wallet_id",
                uuid.UUID(payment_id),
                amount_minor,
            )
            await connection.execute(
                "UPDATE wallets SET held_minor = held_minor + $2, version = version + 1 WHERE id = $1",
                wallet_id,
                amount_minor,
            )
    finally:
        await connection.close()


async def audit_of(platform: Platform, payment_id: str) -> list[asyncpg.Record]:
    dsn = platform.infra.database_url("wallet").replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch("SELECT * FROM hold_releases WHERE payment_id = $1", uuid.UUID(payment_id)))
    finally:
        await connection.close()


async def test_a_hold_left_by_a_failed_payment_is_released_with_an_audit(
    client: LedgerlineClient, operator: httpx.AsyncClient, platform: Platform
) -> None:
    alice = await funded_wallet(client, "strand-alice", "30.00")
    bob = await funded_wallet(client, "strand-bob", "0")
    assert (await operator.post(f"/v1/wallets/{alice}/freeze")).status_code == 200
    failed = await client.transfer(alice, bob, "12.00")
    assert (failed["status"], failed["failure_reason"]) == ("FAILED", "wallet_frozen")
    assert (await operator.post(f"/v1/wallets/{alice}/unfreeze")).status_code == 200
    await strand_hold(platform, failed["id"], minor("12.00"))
    report = json.loads(run_verify(platform, "--json").stdout)
    assert failed["id"] in found(report, "holds_have_live_payment")
    assert await wallet_minor(client, alice) == {"balance": 3000, "held": 1200, "available": 1800}

    reason = "transfer failed, hold restored from a backup; found by ledgerline verify"
    response = await operator.post(f"/v1/admin/holds/{failed['id']}/releases", json={"reason": reason})
    assert response.status_code == 201, response.text
    released = response.json()
    assert (released["amount"], released["currency"], released["payment_status"]) == ("12.00", "EUR", "FAILED")
    assert released["released_by"] == platform.operator_credentials[0] and released["reason"] == reason
    assert (released["wallet"]["held"], released["wallet"]["available"]) == ("0.00", "30.00")
    assert await wallet_minor(client, alice) == {"balance": 3000, "held": 0, "available": 3000}
    [audit] = await audit_of(platform, failed["id"])
    assert (audit["wallet_id"], audit["amount_minor"], audit["payment_status"]) == (uuid.UUID(alice), 1200, "FAILED")
    assert (audit["released_by"], audit["reason"]) == (platform.operator_credentials[0], reason)

    again = await operator.post(f"/v1/admin/holds/{failed['id']}/releases", json={"reason": reason})
    assert (again.status_code, again.json()["code"]) == (409, "hold_not_held")
    assert again.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert len(await audit_of(platform, failed["id"])) == 1
    assert wrong(run_verify(platform, "--json")) == {}
    await assert_books_balance(client)


async def test_a_hold_whose_payment_is_in_flight_is_not_released(
    client: LedgerlineClient, operator: httpx.AsyncClient, platform: Platform
) -> None:
    wallet = await funded_wallet(client, "inflight", "20.00")
    async with httpx.AsyncClient(base_url=platform.url("banksim"), auth=operator_auth(platform)) as bank:
        await bank.put("/v1/admin/behaviour", json={"latency_ms": SLOW_BANK_LATENCY_MS, "failure_rate_percent": 0})
        try:
            body = {"wallet_id": wallet, "amount": "5.00", "currency": "EUR", "bank_account": "DE89370400440532013000"}
            accepted = await client.post_payment("/v1/withdrawals", body)
            assert accepted.status_code == 202, accepted.text
            payment_id = accepted.json()["id"]
            assert await eventually(lambda: _held(client, wallet)), "the withdrawal never took its hold"
            refused = await operator.post(f"/v1/admin/holds/{payment_id}/releases", json={"reason": "too early"})
        finally:
            await bank.put("/v1/admin/behaviour", json={"latency_ms": 0, "failure_rate_percent": 0})
    assert (refused.status_code, refused.json()["code"]) == (409, "payment_in_flight"), refused.text
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert (await client.settle(payment_id))["status"] == "COMPLETED"
    assert await wallet_minor(client, wallet) == {"balance": 1500, "held": 0, "available": 1500}
    assert await audit_of(platform, payment_id) == []
    missing = await operator.post(f"/v1/admin/holds/{uuid.uuid4()}/releases", json={"reason": "no such hold"})
    assert (missing.status_code, missing.json()["code"]) == (404, "hold_not_found")
    await assert_books_balance(client)


async def _held(client: LedgerlineClient, wallet_id: str) -> bool:
    return (await wallet_minor(client, wallet_id))["held"] > 0
