"""Cashback is money through the payment saga: a rewarded transfer credits the payer from the
currency's rewards account (a balanced journal entry), once however often its completion is
announced; a partial refund claws back its share, and what the wallet cannot cover is recorded
as owed, never taken below zero; the books balance after each. Each test has a currency of its
own, so its rules reward no other test's payments."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.core import contracts as c
from ledgerline.core.events import OutgoingMessage, encode
from ledgerline.core.kafka_clients import create_producer
from ledgerline.infra.platform import Platform
from ledgerline.infra.process import log_tail
from tests.books import assert_books_balance, funded_wallet, minor, wallet_minor
from tests.conftest import operator_auth
from tests.polling import eventually


@pytest.fixture
async def rules(any_platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The rewards service as the operator (rules are the admin's)."""
    async with httpx.AsyncClient(
        base_url=any_platform.url("rewards"), timeout=30, auth=operator_auth(any_platform)
    ) as http:
        yield http


async def add_rule(rules: httpx.AsyncClient, currency: str, **terms: Any) -> dict[str, Any]:
    body = {
        "payment_type": "transfer",
        "currency": currency,
        "minimum_amount": "0",
        "rate_bps": 0,
        "bonus": "0",
        "monthly_cap": "1000.00",
        "valid_from": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        **terms,
    }
    created = await rules.post("/v1/rewards/rules", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def rewards_of(client: LedgerlineClient, platform: Platform, wallet: str, **params: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=platform.url("rewards"), timeout=30, auth=client.auth) as http:
        listed = await http.get("/v1/rewards", params={"wallet_id": wallet, **params})
    assert listed.status_code == 200, listed.text
    return dict(listed.json())


async def settled_rewards(
    client: LedgerlineClient, platform: Platform, wallet: str, count: int, clawbacks: int = 0
) -> list[Any]:
    """The wallet's rewards once `count` of them are paid and `clawbacks` clawbacks are settled."""

    async def check() -> list[Any] | None:
        items = (await rewards_of(client, platform, wallet))["items"]
        paid = [r for r in items if r["status"] == "paid"]
        settled = [cb for r in items for cb in r["clawbacks"] if cb["status"] != "pending"]
        found = sum(len(r["clawbacks"]) for r in items)
        return items if len(paid) == count and len(settled) == found == clawbacks else None

    found = await eventually(check, timeout_s=60)
    assert found, log_tail(platform.log_path("rewards"))
    return list(found)


async def rewards_account_minor(client: LedgerlineClient, currency: str) -> int:
    account = await client.ledger.get(f"/v1/accounts/{c.rewards_account_id(currency)}", auth=client.operator)
    return minor(account.json()["balance"], currency) if account.status_code == 200 else 0


async def entry_postings(client: LedgerlineClient, entry_id: str, currency: str) -> dict[str, int]:
    entry = await client.ledger.get(f"/v1/entries/{entry_id}", auth=client.operator)
    assert entry.status_code == 200, entry.text
    return {p["account_id"]: minor(p["amount"], currency) for p in entry.json()["postings"]}


async def test_a_transfer_earns_one_reward_through_the_saga_even_when_announced_again(
    any_client: LedgerlineClient, any_platform: Platform, rules: httpx.AsyncClient
) -> None:
    currency = "SEK"
    rule = await add_rule(rules, currency, minimum_amount="10.00", rate_bps=150, bonus="0.05")
    account_before = await rewards_account_minor(any_client, currency)
    alice = await funded_wallet(any_client, "alice", "500.00", currency)
    bob = await funded_wallet(any_client, "bob", "0", currency)
    transfer = await any_client.transfer(alice, bob, "200.00", currency)
    assert transfer["status"] == "COMPLETED"
    # Below the minimum: no reward.
    small = await any_client.transfer(alice, bob, "9.99", currency)
    assert small["status"] == "COMPLETED"

    [reward] = await settled_rewards(any_client, any_platform, alice, 1)
    # 1.5% of 200.00 is 3.00, plus the 0.05 bonus.
    assert (reward["amount"], reward["rule_id"], reward["source_payment_id"]) == ("3.05", rule["id"], transfer["id"])
    assert await wallet_minor(any_client, alice) == {"balance": 29306, "held": 0, "available": 29306}
    paid = await any_client.get_payment(reward["id"])
    assert (paid["type"], paid["status"], paid["original_payment_id"]) == ("reward", "COMPLETED", transfer["id"])
    postings = await entry_postings(any_client, reward["id"], currency)
    assert postings == {str(c.rewards_account_id(currency)): -305, alice: 305}
    assert sum(postings.values()) == 0
    assert await rewards_account_minor(any_client, currency) - account_before == -305
    # The reward is linked to the payment, but it is no refund of it.
    assert (await any_client.get_payment(transfer["id"]))["refund_ids"] == []

    await _announce_again(any_platform, transfer)
    assert await rewards_of(any_client, any_platform, alice) == {"items": [reward], "next_cursor": None}
    assert await wallet_minor(any_client, alice) == {"balance": 29306, "held": 0, "available": 29306}
    await assert_books_balance(any_client)


def completed(payment: dict[str, Any], **links: uuid.UUID) -> OutgoingMessage:
    """The payment's `payment.completed`, with the event id the payment service gives it."""
    outcome = c.PaymentOutcome(
        payment_id=uuid.UUID(payment["id"]),
        payment_type=payment["type"],
        status="COMPLETED",
        amount_minor=minor(payment["amount"], payment["currency"]),
        currency=payment["currency"],
        source_wallet_id=payment["source_wallet_id"],
        destination_wallet_id=payment["destination_wallet_id"],
        original_payment_id=payment.get("original_payment_id"),
    )
    return c.message(
        c.PAYMENT_COMPLETED,
        outcome,
        key=payment["id"],
        source="/ledgerline/payment",
        message_id=outcome_event_id(payment["id"]),
    )


def outcome_event_id(payment_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(payment_id), "outcome:COMPLETED"))


@asynccontextmanager
async def rewards_database(platform: Platform) -> AsyncIterator[asyncpg.Connection]:
    database = await asyncpg.connect(platform.infra.database_url("rewards").replace("+asyncpg", ""))
    try:
        yield database
    finally:
        await database.close()


async def publish_and_await(platform: Platform, *messages: OutgoingMessage) -> None:
    """Publish `messages` straight onto their topic, in order, and return once the rewards service
    has consumed the last (in its inbox)."""
    producer: AIOKafkaProducer = create_producer(platform.infra.kafka.bootstrap_servers, "rewards-test")
    await producer.start()
    try:
        for message in messages:
            key, value, headers = encode(message)
            await (await producer.send(message.topic, value=value, key=key, headers=headers))
    finally:
        await producer.stop()
    async with rewards_database(platform) as database:

        async def consumed() -> bool:
            query = "SELECT count(*) FROM inbox WHERE event_id = $1"
            return bool(await database.fetchval(query, messages[-1].id))

        assert await eventually(consumed, timeout_s=60), log_tail(platform.log_path("rewards"))


async def _announce_again(platform: Platform, transfer: dict[str, Any]) -> None:
    """The transfer's `payment.completed` twice more: with its own event id (a redelivery, which
    the inbox drops) and with a new one (a replay, which the one-per-payment-and-rule row drops);
    returns once the rewards service has consumed both (same key, same partition: once the replay
    is in the inbox, the redelivery was read too)."""
    redelivery = completed(transfer)
    await publish_and_await(platform, redelivery, dataclasses.replace(redelivery, id=str(uuid.uuid4())))
    async with rewards_database(platform) as database:
        query = "SELECT count(*) FROM rewards WHERE source_payment_id = $1"
        assert await database.fetchval(query, uuid.UUID(transfer["id"])) == 1


async def passed_over(platform: Platform, currency: str) -> int:
    """How many outcomes in `currency` the rewards service passed over, as its metrics say."""
    async with httpx.AsyncClient(base_url=platform.url("rewards"), timeout=30) as http:
        text = (await http.get("/metrics")).text
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ledgerline_rewards_outcomes_passed_over_total" and sample.labels["currency"] == currency
    )


async def await_passed_over(platform: Platform, currency: str, count: int) -> None:
    async def enough() -> bool:
        return await passed_over(platform, currency) >= count

    assert await eventually(enough, timeout_s=60), log_tail(platform.log_path("rewards"))


async def test_outcomes_no_rule_can_match_write_nothing_and_a_rule_added_later_applies(
    client: LedgerlineClient, platform: Platform, rules_on_embedded: httpx.AsyncClient
) -> None:
    currency = "CZK"
    before = await passed_over(platform, currency)
    alice = await funded_wallet(client, "alice", "100.00", currency)
    bob = await funded_wallet(client, "bob", "0", currency)
    transfers = [await client.transfer(alice, bob, "10.00", currency) for _ in range(3)]
    # The deposit and the three transfers: no rule for the currency, so no inbox row for any.
    await await_passed_over(platform, currency, before + 4)
    [deposit] = (await client.payments(wallet_id=alice, type="deposit"))["items"]
    payments = [deposit["id"], *(t["id"] for t in transfers)]
    async with rewards_database(platform) as database:
        query = "SELECT count(*) FROM inbox WHERE event_id = any($1::text[])"
        assert await database.fetchval(query, [outcome_event_id(p) for p in payments]) == 0

    await add_rule(rules_on_embedded, currency, rate_bps=1000)
    rewarded = await client.transfer(alice, bob, "20.00", currency)
    [reward] = await settled_rewards(client, platform, alice, 1)
    assert (reward["amount"], reward["source_payment_id"]) == ("2.00", rewarded["id"])
    # 100 - 3 x 10 - 20 + the 2.00 reward; the earlier transfers earned nothing.
    assert await wallet_minor(client, alice) == {"balance": 5200, "held": 0, "available": 5200}
    await assert_books_balance(client)


async def test_a_refund_consumed_before_its_payment_still_claws_back_its_share(
    client: LedgerlineClient, platform: Platform, rules_on_embedded: httpx.AsyncClient
) -> None:
    currency = "HUF"
    before = await passed_over(platform, currency)
    alice = await funded_wallet(client, "alice", "1000.00", currency)
    bob = await funded_wallet(client, "bob", "0", currency)
    transfer = await client.transfer(alice, bob, "300.00", currency)
    refund = await client.refund(transfer["id"], "100.00")
    assert refund["status"] == "COMPLETED"
    # With no rule yet, the three outcomes (deposit, transfer, refund) are passed over; the
    # rule's validity began before the transfer, so both are announced again under it.
    await await_passed_over(platform, currency, before + 3)
    await add_rule(rules_on_embedded, currency, rate_bps=1000)

    # The refund first: it is kept, and claws back nothing until the transfer's reward exists.
    await publish_and_await(platform, dataclasses.replace(completed(refund), id=str(uuid.uuid4())))
    async with rewards_database(platform) as database:
        query = "SELECT count(*) FROM rewards WHERE source_payment_id = $1"
        assert await database.fetchval(query, uuid.UUID(transfer["id"])) == 0
    await publish_and_await(platform, dataclasses.replace(completed(transfer), id=str(uuid.uuid4())))

    # As had they come in order: 10% of 300.00 paid, a third of it clawed back.
    [reward] = await settled_rewards(client, platform, alice, 1, clawbacks=1)
    assert (reward["amount"], reward["clawed_back"], reward["owed"]) == ("30.00", "10.00", "0.00")
    [clawback] = reward["clawbacks"]
    assert (clawback["refund_payment_id"], clawback["due"], clawback["amount"]) == (refund["id"], "10.00", "10.00")
    # 1000 - 300 + 100 refunded + 30 reward - 10 clawed back.
    assert await wallet_minor(client, alice) == {"balance": 82000, "held": 0, "available": 82000}
    postings = await entry_postings(client, clawback["id"], currency)
    assert postings == {alice: -1000, str(c.rewards_account_id(currency)): 1000}
    await assert_books_balance(client)


async def test_partial_refunds_claw_back_in_proportion(
    client: LedgerlineClient, platform: Platform, rules_on_embedded: httpx.AsyncClient
) -> None:
    currency = "NOK"
    await add_rule(rules_on_embedded, currency, rate_bps=1000)
    account_before = await rewards_account_minor(client, currency)
    alice = await funded_wallet(client, "alice", "1000.00", currency)
    bob = await funded_wallet(client, "bob", "0", currency)
    transfer = await client.transfer(alice, bob, "300.00", currency)
    [reward] = await settled_rewards(client, platform, alice, 1)
    assert reward["amount"] == "30.00"

    # A third refunded, twice: 10.00 each time; the refunds credit alice, the clawbacks debit her.
    for _ in range(2):
        assert (await client.refund(transfer["id"], "100.00"))["status"] == "COMPLETED"
    [reward] = await settled_rewards(client, platform, alice, 1, clawbacks=2)
    assert (reward["clawed_back"], reward["owed"]) == ("20.00", "0.00")
    assert [(cb["due"], cb["amount"], cb["status"]) for cb in reward["clawbacks"]] == [
        ("10.00", "10.00", "completed"),
        ("10.00", "10.00", "completed"),
    ]
    # 1000 - 300 + 30 reward + 200 refunded - 20 clawed back.
    assert await wallet_minor(client, alice) == {"balance": 91000, "held": 0, "available": 91000}
    assert await wallet_minor(client, bob) == {"balance": 10000, "held": 0, "available": 10000}
    clawback = await client.get_payment(reward["clawbacks"][0]["id"])
    assert (clawback["type"], clawback["original_payment_id"]) == ("reward_clawback", reward["id"])
    postings = await entry_postings(client, clawback["id"], currency)
    assert postings == {alice: -1000, str(c.rewards_account_id(currency)): 1000}
    assert await rewards_account_minor(client, currency) - account_before == -3000 + 2000
    await assert_books_balance(client)


async def test_a_clawback_the_wallet_cannot_cover_is_owed_never_overdrawn(
    client: LedgerlineClient, platform: Platform, rules_on_embedded: httpx.AsyncClient
) -> None:
    currency = "DKK"
    # A bonus larger than the payment: half a refund claws back more than the refund brings in.
    await add_rule(rules_on_embedded, currency, minimum_amount="1.00", bonus="50.00")
    alice = await funded_wallet(client, "alice", "1.00", currency)
    bob = await funded_wallet(client, "bob", "0", currency)
    transfer = await client.transfer(alice, bob, "1.00", currency)
    await settled_rewards(client, platform, alice, 1)
    assert (await client.withdraw(alice, "50.00", currency))["status"] == "COMPLETED"
    assert await wallet_minor(client, alice) == {"balance": 0, "held": 0, "available": 0}

    assert (await client.refund(transfer["id"], "0.50"))["status"] == "COMPLETED"
    [reward] = await settled_rewards(client, platform, alice, 1, clawbacks=1)
    # Half the reward is due (25.00); alice has the 0.50 the refund brought, and owes the rest.
    assert (reward["clawed_back"], reward["owed"]) == ("0.50", "24.50")
    [clawback] = reward["clawbacks"]
    assert (clawback["due"], clawback["amount"], clawback["owed"], clawback["status"]) == (
        "25.00",
        "0.50",
        "24.50",
        "completed",
    )
    assert await wallet_minor(client, alice) == {"balance": 0, "held": 0, "available": 0}
    await assert_books_balance(client)


async def test_rewards_are_listed_in_keyset_pages_to_their_owner_only(
    client: LedgerlineClient, platform: Platform, rules_on_embedded: httpx.AsyncClient
) -> None:
    currency = "PLN"
    await add_rule(rules_on_embedded, currency, bonus="1.00", monthly_cap="2.50")
    alice = await funded_wallet(client, "alice", "100.00", currency)
    bob = await funded_wallet(client, "bob", "0", currency)
    for _ in range(4):
        assert (await client.transfer(alice, bob, "5.00", currency))["status"] == "COMPLETED"
    # The cap: 1.00, 1.00, then the 0.50 left of 2.50, then nothing at all.
    items = await settled_rewards(client, platform, alice, 3)
    assert sorted(r["amount"] for r in items) == ["0.50", "1.00", "1.00"]
    assert await wallet_minor(client, alice) == {"balance": 8250, "held": 0, "available": 8250}

    first = await rewards_of(client, platform, alice, limit=2)
    second = await rewards_of(client, platform, alice, limit=2, cursor=first["next_cursor"])
    assert len(first["items"]) == 2 and len(second["items"]) == 1 and second["next_cursor"] is None
    assert [r["id"] for r in first["items"] + second["items"]] == [r["id"] for r in items]

    async with httpx.AsyncClient(base_url=platform.url("rewards"), timeout=30, auth=client.auth) as http:
        bad_cursor = await http.get("/v1/rewards", params={"wallet_id": alice, "cursor": "bm9wZQ=="})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["code"] == "invalid_cursor"
    stranger = await register_customer(platform.url("identity"))
    async with httpx.AsyncClient(base_url=platform.url("rewards"), timeout=30, auth=stranger) as http:
        hidden = await http.get("/v1/rewards", params={"wallet_id": alice})
    assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
    await assert_books_balance(client)


async def test_rules_are_the_admins_and_refuse_what_cannot_apply(
    client: LedgerlineClient, platform: Platform, rules_on_embedded: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC).isoformat()
    refused = await rules_on_embedded.post(
        "/v1/rewards/rules",
        json={
            "payment_type": "transfer",
            "currency": "EUR",
            "minimum_amount": "0",
            "rate_bps": 100,
            "bonus": "0",
            "monthly_cap": "1.00",
            "valid_from": now,
            "valid_to": now,
        },
    )
    assert refused.status_code == 422 and refused.json()["code"] == "rule_not_valid"
    decimals = await rules_on_embedded.post(
        "/v1/rewards/rules",
        json={
            "payment_type": "transfer",
            "currency": "EUR",
            "minimum_amount": "0.001",
            "rate_bps": 100,
            "bonus": "0",
            "monthly_cap": "1.00",
            "valid_from": now,
        },
    )
    assert decimals.status_code == 422 and decimals.headers["content-type"] == "application/problem+json"
    async with httpx.AsyncClient(base_url=platform.url("rewards"), timeout=30, auth=client.auth) as http:
        forbidden = await http.get("/v1/rewards/rules")
    assert forbidden.status_code == 403
    await assert_books_balance(client)


@pytest.fixture
async def rules_on_embedded(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.url("rewards"), timeout=30, auth=operator_auth(platform)) as http:
        yield http
