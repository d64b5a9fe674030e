"""Cross-currency transfers move exactly the quoted amounts: a round EUR -> USD -> JPY and back
rounds down to each currency's minor unit, each journal entry balances per currency through the
FX accounts, and the books balance; a quote is its owner's, used once, before it expires, and a
transfer accepted in time completes even when its quote expires mid-saga. The rates here are
those of the bank simulator's feed, which the platform loads, so the two never disagree."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.core import contracts as c
from ledgerline.infra.platform import Platform
from ledgerline.payment import fx
from tests.books import assert_books_balance, funded_wallet, minor, wallet_minor
from tests.conftest import platform_client
from tests.e2e.test_compensation import ledger_account_opened
from tests.polling import eventually

RATES = {("EUR", "USD"): "1.08567", ("USD", "JPY"): "151.234", ("JPY", "USD"): "0.0066", ("USD", "EUR"): "0.92"}
ATTEMPTS_MAX = 5


async def set_rates(client: LedgerlineClient) -> None:
    for (base, quote), rate in RATES.items():
        assert (await client.set_rate(base, quote, rate))["rate"] == fx.format_rate(fx.parse_rate(rate))


async def fx_position_minor(client: LedgerlineClient, currency: str) -> int:
    """The FX account's balance in `currency` (read by the operator); 0 before its first posting."""
    response = await client.ledger.get(f"/v1/accounts/{c.fx_account_id(currency)}", auth=client.operator)
    if response.status_code == 404:
        return 0
    response.raise_for_status()
    assert response.json()["kind"] == "fx"
    return minor(response.json()["balance"], currency)


async def transfer_with(client: LedgerlineClient, source: str, destination: str, quote_id: str, **extra: Any) -> Any:
    body = {"source_wallet_id": source, "destination_wallet_id": destination, "quote_id": quote_id, **extra}
    return await client.post_payment("/v1/transfers", body)


async def test_a_round_of_exchanges_rounds_down_each_time_and_balances_per_currency(
    any_client: LedgerlineClient,
) -> None:
    client = any_client  # On each Kafka backend.
    await set_rates(client)
    eur = await funded_wallet(client, "alice", "100.00", "EUR")
    usd, jpy = [(await client.open_wallet("alice", currency))["id"] for currency in ("USD", "JPY")]
    before = {currency: await fx_position_minor(client, currency) for currency in ("EUR", "USD", "JPY")}
    legs = [
        (eur, usd, "EUR", "USD", "10.00", "10.85"),  # 10.8567 USD
        (usd, jpy, "USD", "JPY", "10.85", "1640"),  # 1640.8889 JPY: JPY has no minor unit
        (jpy, usd, "JPY", "USD", "1640", "10.82"),  # 10.824 USD
        (usd, eur, "USD", "EUR", "10.82", "9.95"),  # 9.9544 EUR
    ]
    payments = []
    for source, destination, paid_in, received_in, paid, received in legs:
        quote = await client.quote(paid_in, received_in, paid)
        assert (quote["source_amount"], quote["destination_amount"]) == (paid, received)
        payment = await client.exchange(source, destination, quote["id"])
        assert payment["status"] == "COMPLETED", payment
        assert (payment["amount"], payment["currency"]) == (paid, paid_in)
        assert (payment["destination_amount"], payment["destination_currency"]) == (received, received_in)
        payments.append(payment)
    assert await wallet_minor(client, eur) == {"balance": 9995, "held": 0, "available": 9995}
    assert await wallet_minor(client, usd) == {"balance": 0, "held": 0, "available": 0}
    assert await wallet_minor(client, jpy) == {"balance": 0, "held": 0, "available": 0}
    # The platform kept what rounding left: 0.05 EUR, nothing of USD or JPY.
    after = {currency: await fx_position_minor(client, currency) for currency in ("EUR", "USD", "JPY")}
    assert {currency: after[currency] - before[currency] for currency in after} == {"EUR": 5, "USD": 0, "JPY": 0}
    entry = await client.ledger.get(f"/v1/entries/{payments[0]['id']}", auth=client.operator)
    postings = [(p["account_id"], p["currency"], p["amount"]) for p in entry.json()["postings"]]
    assert sorted(postings) == sorted(
        [
            (eur, "EUR", "-10.00"),
            (str(c.fx_account_id("EUR")), "EUR", "10.00"),
            (str(c.fx_account_id("USD")), "USD", "-10.85"),
            (usd, "USD", "10.85"),
        ]
    )
    totals: dict[str, int] = defaultdict(int)
    for _, currency, amount in postings:
        totals[currency] += minor(amount, currency)
    assert totals == {"EUR": 0, "USD": 0}
    listed = await client.ledger.get("/v1/accounts", params={"kind": "fx"}, auth=client.operator)
    assert {str(c.fx_account_id(cur)) for cur in ("EUR", "USD", "JPY")} <= {a["id"] for a in listed.json()}
    report = await client.reconciliation()
    assert report["ok"] and all(total["balanced"] for total in report["currencies"]), report
    await assert_books_balance(client)


async def test_a_quote_is_its_owners_used_once_and_only_before_it_expires(
    client: LedgerlineClient, platform: Platform
) -> None:
    await set_rates(client)
    eur = await funded_wallet(client, "alice", "20.00", "EUR")
    usd = (await client.open_wallet("alice", "USD"))["id"]
    quote = await client.quote("EUR", "USD", "5.00")
    mismatch = await transfer_with(client, eur, usd, quote["id"], amount="5.01", currency="EUR")
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "quote_mismatch")
    key = str(uuid.uuid4())
    first = await client.post_payment(
        "/v1/transfers", {"source_wallet_id": eur, "destination_wallet_id": usd, "quote_id": quote["id"]}, key
    )
    assert first.status_code == 202, first.text
    replayed = await client.post_payment(
        "/v1/transfers", {"source_wallet_id": eur, "destination_wallet_id": usd, "quote_id": quote["id"]}, key
    )
    assert (replayed.status_code, replayed.json()["id"]) == (202, first.json()["id"])
    reused = await transfer_with(client, eur, usd, quote["id"])
    assert (reused.status_code, reused.json()["code"]) == (409, "quote_used")
    assert (await client.settle(first.json()["id"]))["status"] == "COMPLETED"

    bob = platform_client(platform, await register_customer(platform.url("identity")))
    try:
        bob_eur = await funded_wallet(bob, "bob", "20.00", "EUR")
        bob_usd = (await bob.open_wallet("bob", "USD"))["id"]
        bobs = await bob.quote("EUR", "USD", "5.00")
        taken = await transfer_with(client, eur, usd, bobs["id"])
        assert (taken.status_code, taken.json()["code"]) == (404, "quote_not_found")
        assert (await client.payment.get(f"/v1/quotes/{bobs['id']}")).status_code == 404
        short = await bob.quote("EUR", "USD", "5.00", valid_for_s=1)
        await asyncio.sleep(_seconds_until(short["expires_at"]) + 0.2)
        expired = await transfer_with(bob, bob_eur, bob_usd, short["id"])
        assert (expired.status_code, expired.json()["code"]) == (422, "quote_expired")
        assert await wallet_minor(bob, bob_eur) == {"balance": 2000, "held": 0, "available": 2000}
    finally:
        await bob.aclose()
    no_rate = await client.payment.post(
        "/v1/quotes", json={"source_currency": "EUR", "destination_currency": "XOF", "amount": "1.00"}
    )
    assert (no_rate.status_code, no_rate.json()["code"]) == (422, "rate_unavailable")
    forbidden = await client.payment.put("/v1/fx/rates/EUR/USD", json={"rate": "9"})
    assert forbidden.status_code == 403
    assert await wallet_minor(client, eur) == {"balance": 1500, "held": 0, "available": 1500}
    assert await wallet_minor(client, usd) == {"balance": 542, "held": 0, "available": 542}  # 5.428 USD
    await assert_books_balance(client)


def _seconds_until(rfc3339: str) -> float:
    return max(0.0, (datetime.fromisoformat(rfc3339) - datetime.now(UTC)).total_seconds())


async def test_a_transfer_accepted_in_time_completes_after_its_quote_expires(
    client: LedgerlineClient, platform: Platform
) -> None:
    await set_rates(client)
    eur = await funded_wallet(client, "alice", "20.00", "EUR")
    usd = (await client.open_wallet("alice", "USD"))["id"]
    await ledger_account_opened(client, usd)
    dsn = platform.infra.database_url("ledger").replace("postgresql+asyncpg://", "postgresql://")
    ledger_db = await asyncpg.connect(dsn)
    # A long transaction on the destination's ledger account holds the saga at its entry.
    holding = ledger_db.transaction()
    await holding.start()
    try:
        await ledger_db.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", uuid.UUID(usd))
        quote, accepted = await _accepted_with_short_quote(client, eur, usd)
        await asyncio.sleep(_seconds_until(quote["expires_at"]) + 0.2)
        assert (await client.get_payment(accepted.json()["id"]))["status"] in ("INITIATED", "RESERVED")
    finally:
        await holding.rollback()
        await ledger_db.close()
    payment = await client.settle(accepted.json()["id"])
    assert (payment["status"], payment["destination_amount"]) == ("COMPLETED", "3.25")  # 3.25701 USD
    assert (await client.payment.get(f"/v1/quotes/{quote['id']}")).json()["payment_id"] == payment["id"]
    assert await wallet_minor(client, eur) == {"balance": 1700, "held": 0, "available": 1700}
    assert await wallet_minor(client, usd) == {"balance": 325, "held": 0, "available": 325}
    await assert_books_balance(client)


async def _accepted_with_short_quote(client: LedgerlineClient, eur: str, usd: str) -> tuple[Any, httpx.Response]:
    """A quote valid for two seconds and a transfer accepted with it (asked again if a slow
    machine let the quote expire before the transfer reached the service)."""
    for _ in range(ATTEMPTS_MAX):
        quote = await client.quote("EUR", "USD", "3.00", valid_for_s=2)
        accepted = await transfer_with(client, eur, usd, quote["id"])
        if accepted.status_code == 202:
            return quote, accepted
        assert accepted.json()["code"] == "quote_expired", accepted.text
    raise AssertionError(f"no transfer accepted within {ATTEMPTS_MAX} two-second quotes")


async def test_the_bank_rate_feed_sets_rates_a_quote_uses(client: LedgerlineClient) -> None:
    async def fed_rate() -> str | None:
        listed = await client.payment.get("/v1/fx/rates")
        return {(r["base"], r["quote"]): r["rate"] for r in listed.json()["items"]}.get(("EUR", "JPY"))

    assert await eventually(fed_rate) == "164.19000000"
    quote = await client.quote("EUR", "JPY", "1.99")
    assert (quote["rate"], quote["destination_amount"]) == ("164.19000000", "326")  # 326.7381 JPY
