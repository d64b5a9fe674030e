"""A command delivered twice has one effect: one hold, one journal entry, one settlement, whether
the copy carries the same message id (the inbox) or a new one (the payment-keyed records); and a
command seen before is answered again, the same way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ledgerline.client import LedgerlineClient
from ledgerline.core import contracts as c
from ledgerline.core import topics
from ledgerline.core.events import decode, encode, expand
from ledgerline.core.kafka_clients import create_producer
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, played_payment, wallet_minor
from tests.kafka_producer import send_twice, started_producer
from tests.polling import eventually


@pytest.fixture
async def producer(any_platform: Platform) -> AsyncIterator[AIOKafkaProducer]:
    async with started_producer(any_platform, "redelivery-test") as kafka:
        yield kafka


@pytest.mark.parametrize("same_id", [True, False], ids=["same-message-id", "new-message-id"])
async def test_each_saga_command_twice_has_one_effect(
    any_client: LedgerlineClient, producer: AIOKafkaProducer, same_id: bool
) -> None:
    alice = await funded_wallet(any_client, "alice", "20.00")
    bob = await funded_wallet(any_client, "bob", "0")
    payment_id = uuid.uuid4()
    played_payment(payment_id)
    src = "/tests/redelivery"

    reserve = c.ReserveFunds(payment_id=payment_id, wallet_id=uuid.UUID(alice), amount_minor=500, currency="EUR")
    await send_twice(producer, c.message(c.RESERVE_FUNDS, reserve, key=str(payment_id), source=src), same_id=same_id)
    assert await eventually(lambda: _held_is(any_client, alice, 500))
    await asyncio.sleep(1.0)  # Give the copy every chance to be applied too.
    assert await wallet_minor(any_client, alice) == {"balance": 2000, "held": 500, "available": 1500}

    lines = (
        c.PostingLine(account_id=uuid.UUID(alice), account_kind="wallet", currency="EUR", amount_minor=-500),
        c.PostingLine(account_id=uuid.UUID(bob), account_kind="wallet", currency="EUR", amount_minor=500),
    )
    post = c.PostEntry(entry_id=payment_id, payment_id=payment_id, description="redelivery", postings=lines)
    await send_twice(producer, c.message(c.POST_ENTRY, post, key=str(payment_id), source=src), same_id=same_id)
    assert await eventually(lambda: _entry_exists(any_client, payment_id))
    settle = c.SettleFunds(
        payment_id=payment_id,
        currency="EUR",
        debit_wallet_id=uuid.UUID(alice),
        credits=(c.Credit(wallet_id=uuid.UUID(bob), amount_minor=500),),
    )
    await send_twice(producer, c.message(c.SETTLE_FUNDS, settle, key=str(payment_id), source=src), same_id=same_id)
    assert await eventually(lambda: _held_is(any_client, alice, 0))
    await asyncio.sleep(1.0)

    entry = (await any_client.ledger.get(f"/v1/entries/{payment_id}")).json()
    assert len(entry["postings"]) == 2
    history = await any_client.entries(bob)
    assert [item["entry_id"] for item in history["items"]].count(str(payment_id)) == 1
    assert await wallet_minor(any_client, alice) == {"balance": 1500, "held": 0, "available": 1500}
    assert await wallet_minor(any_client, bob) == {"balance": 500, "held": 0, "available": 500}
    await assert_books_balance(any_client)


async def _held_is(client: LedgerlineClient, wallet_id: str, held: int) -> bool:
    return (await wallet_minor(client, wallet_id))["held"] == held


async def _entry_exists(client: LedgerlineClient, entry_id: uuid.UUID) -> bool:
    return (await client.ledger.get(f"/v1/entries/{entry_id}")).status_code == 200


class ReplyWatch:
    """Reads the wallet's replies from the moment it starts, batch records included."""

    def __init__(self, platform: Platform) -> None:
        self._consumer = AIOKafkaConsumer(
            topics.WALLET_EVENTS,
            bootstrap_servers=platform.infra.kafka.bootstrap_servers,
            group_id=f"reply-watch-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
        )
        self.replies: list[tuple[str, dict[str, object]]] = []

    async def __aenter__(self) -> ReplyWatch:
        await self._consumer.start()
        await eventually(lambda: bool(self._consumer.assignment()), timeout_s=30)
        for partition in self._consumer.assignment():
            await self._consumer.position(partition)  # Fixes "latest" before anything is sent.
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def of(self, payment_id: uuid.UUID) -> list[str]:
        for records in (await self._consumer.getmany(timeout_ms=200)).values():
            for record in records:
                envelope = decode(key=record.key, value=record.value, headers=list(record.headers))
                self.replies.extend((e.type, dict(e.data)) for e in expand(envelope))
        return [type_ for type_, data in self.replies if data.get("payment_id") == str(payment_id)]


async def test_a_command_seen_before_is_answered_again_the_same_way(
    client: LedgerlineClient, platform: Platform
) -> None:
    """A re-sent command whose reply was lost (a broker that restarted without its memory) gets
    its reply again, and a refused reserve stays refused after the wallet could pay."""
    kafka = create_producer(platform.infra.kafka.bootstrap_servers, "rereply-test")
    await kafka.start()
    try:
        wallet = (await client.open_wallet("late-funds"))["id"]
        payment_id = uuid.uuid4()
        played_payment(payment_id)
        reserve = c.ReserveFunds(payment_id=payment_id, wallet_id=uuid.UUID(wallet), amount_minor=500, currency="EUR")
        message = c.message(c.RESERVE_FUNDS, reserve, key=str(payment_id), source="/tests/rereply")
        key, value, headers = encode(message)
        async with ReplyWatch(platform) as watch:
            for sent in (1, 2):  # The second copy comes after the first was answered.
                await (await kafka.send(message.topic, value=value, key=key, headers=headers))
                assert await eventually(lambda: _count(watch.of(payment_id), sent)), watch.replies[-5:]  # noqa: B023  # Awaited within the iteration.
            deposit = await client.deposit(wallet, "10.00")
            assert deposit["status"] == "COMPLETED"
            await (await kafka.send(message.topic, value=value, key=key, headers=headers))
            assert await eventually(lambda: _count(watch.of(payment_id), 3))
            assert await watch.of(payment_id) == [c.FUNDS_REJECTED] * 3
        assert await wallet_minor(client, wallet) == {"balance": 1000, "held": 0, "available": 1000}
    finally:
        await kafka.stop()
    await assert_books_balance(client)


async def _count(replies: Awaitable[list[str]], wanted: int) -> bool:
    return len(await replies) >= wanted
