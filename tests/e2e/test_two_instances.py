"""Two instances each of wallet, ledger and payment, requests spread over both, keep every
guarantee: concurrent transfers spend a wallet's money once, an idempotency key makes one payment
whichever instance it reaches, a command delivered to both wallet or ledger instances has one
effect, and killing one payment and one wallet instance mid-load loses no payment."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from ledgerline.client import REQUEST_TIMEOUT_S, LedgerlineClient, register_customer
from ledgerline.core import contracts as c
from ledgerline.core.events import OutgoingMessage, encode
from ledgerline.infra.launcher import Infrastructure, Ports
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, played_payment, track_databases, wallet_minor
from tests.conftest import TEST_OVERRIDES, platform_client
from tests.kafka_producer import started_producer
from tests.polling import eventually

REPLICAS = 2
# Banksim serves the deposits and identity the tokens; notification takes no part in these
# journeys, and leaving it out keeps the platform small enough to start quickly on a shared machine.
SERVICES = ("wallet", "ledger", "payment", "banksim", "identity")
# Topics have six partitions: 0 and 5 belong to different members of a two-member group under
# both the range and the round-robin assignor.
PARTITIONS_APART = (0, 5)
# A request whose instance died may have left its key marked in flight in Redis; the mark
# expires after the idempotency lock TTL (30 s), so a retry may wait that long.
ANSWER_WAIT_S = 60.0
RETRY_DELAY_S = 0.5
HTTP_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class RoundRobin(httpx.AsyncBaseTransport):
    """Sends each request to the next instance in turn, as a Kubernetes Service spreads them.

    A refused connection never reached a server, so it is safe to try the next instance for
    any request; that is what a load balancer does once an instance is gone.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self._targets = [httpx.URL(url) for url in urls]
        self._turns = itertools.cycle(range(len(self._targets)))
        self._transport = httpx.AsyncHTTPTransport(limits=HTTP_LIMITS)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Each request starts at the next instance and tries the others from there, whatever
        # turns concurrent requests take meanwhile.
        first = next(self._turns)
        refused: httpx.ConnectError | None = None
        for offset in range(len(self._targets)):
            target = self._targets[(first + offset) % len(self._targets)]
            request.url = request.url.copy_with(host=target.host, port=target.port)
            try:
                return await self._transport.handle_async_request(request)
            except httpx.ConnectError as error:
                refused = error
        assert refused is not None
        raise refused

    async def aclose(self) -> None:
        await self._transport.aclose()


async def spread_client(platform: Platform) -> LedgerlineClient:
    """The tests' usual client, its wallet, ledger and payment requests spread over the instances."""
    client = platform_client(platform, await register_customer(platform.url("identity")))
    for service in ("wallet", "ledger", "payment"):
        await getattr(client, service).aclose()
        spread = httpx.AsyncClient(
            base_url=platform.url(service),
            timeout=REQUEST_TIMEOUT_S,
            transport=RoundRobin(platform.urls(service)),
            auth=client.auth,
        )
        setattr(client, service, spread)
    return client


@pytest.fixture(scope="module")
def replicated() -> Iterator[Platform]:
    root = Path(tempfile.mkdtemp(prefix="ledgerline-replicas-"))
    root.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the tests run as root.
    infra = Infrastructure(root / "embedded", kafka_backend="embedded", ports=Ports.free())
    platform = Platform.on_free_ports(
        infra, environment="test", overrides=TEST_OVERRIDES, services=SERVICES, replicas=REPLICAS
    )
    try:
        infra.start()
        platform.start()
        track_databases(platform.url("ledger"), infra.database_url("ledger"))
        yield platform
    finally:
        platform.stop()
        infra.stop()
        if not os.environ.get("LEDGERLINE_KEEP_TEST_DATA"):
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def client(replicated: Platform) -> AsyncIterator[LedgerlineClient]:
    api = await spread_client(replicated)
    yield api
    await api.aclose()


async def query(platform: Platform, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    dsn = platform.infra.database_url(service).replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def assert_no_duplicate_effect(platform: Platform, payments: Sequence[dict[str, Any]]) -> None:
    """One journal entry per completed payment and none for a failed one; no hold left open;
    every outbox drained (nothing committed was left unpublished)."""
    ids = [uuid.UUID(p["id"]) for p in payments]
    rows = await query(
        platform,
        "ledger",
        "SELECT payment_id, count(*) AS entries FROM journal_entries WHERE payment_id = ANY($1) GROUP BY payment_id",
        ids,
    )
    entries = {row["payment_id"]: row["entries"] for row in rows}
    for payment in payments:
        expected = 1 if payment["status"] == "COMPLETED" else 0
        assert entries.get(uuid.UUID(payment["id"]), 0) == expected, payment
    open_holds = await query(platform, "wallet", "SELECT payment_id FROM holds WHERE status = 'held'")
    assert open_holds == []

    async def drained() -> bool:
        for service in ("wallet", "ledger", "payment"):
            if await query(platform, service, "SELECT id FROM outbox LIMIT 1"):
                return False
        return True

    assert await eventually(drained), "an outbox never drained"


async def test_concurrent_transfers_over_two_instances_spend_the_money_once(
    client: LedgerlineClient, replicated: Platform
) -> None:
    transfers, funded_for = 40, 8
    source = await funded_wallet(client, "spender", f"{funded_for * 10}.00")
    sinks = [await funded_wallet(client, f"sink-{i}", "0") for i in range(4)]
    bodies = [
        {"source_wallet_id": source, "destination_wallet_id": sinks[i % 4], "amount": "10.00", "currency": "EUR"}
        for i in range(transfers)
    ]
    accepted = await asyncio.gather(*(client.post_payment("/v1/transfers", body) for body in bodies))
    assert all(r.status_code == 202 for r in accepted), [r.text for r in accepted if r.status_code != 202]
    results = await asyncio.gather(*(client.settle(r.json()["id"]) for r in accepted))
    statuses = [(r["status"], r["failure_reason"]) for r in results]
    assert statuses.count(("COMPLETED", None)) == funded_for
    assert statuses.count(("FAILED", "insufficient_funds")) == transfers - funded_for
    assert await wallet_minor(client, source) == {"balance": 0, "held": 0, "available": 0}
    received = [(await wallet_minor(client, sink))["balance"] for sink in sinks]
    assert sum(received) == funded_for * 1000
    await assert_no_duplicate_effect(replicated, results)
    await assert_books_balance(client)


async def test_one_key_sent_to_both_payment_instances_makes_one_payment(
    client: LedgerlineClient, replicated: Platform
) -> None:
    alice = await funded_wallet(client, "alice", "50.00")
    bob = await funded_wallet(client, "bob", "0")
    key = str(uuid.uuid4())
    body = {"source_wallet_id": alice, "destination_wallet_id": bob, "amount": "7.00", "currency": "EUR"}
    # Round robin: the eight copies alternate between the two payment instances.
    responses = await asyncio.gather(*(client.post_payment("/v1/transfers", body, key) for _ in range(8)))
    assert all(r.status_code in (202, 409) for r in responses), [(r.status_code, r.text) for r in responses]
    assert all(r.json()["code"] == "idempotency_key_in_flight" for r in responses if r.status_code == 409)
    created = [r for r in responses if r.status_code == 202]
    assert created, [r.status_code for r in responses]
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    assert all(r.json() == created[0].json() for r in created)
    # After the first answer, the key replays the same response from both instances.
    replays = [await client.post_payment("/v1/transfers", body, key) for _ in range(REPLICAS)]
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in replays)
    assert all(r.json() == created[0].json() for r in replays)
    payment_ids = await query(replicated, "payment", "SELECT id FROM payments WHERE source_wallet_id = $1", alice)
    assert len(payment_ids) == 1
    payment = await client.settle(created[0].json()["id"])
    assert payment["status"] == "COMPLETED"
    assert await wallet_minor(client, alice) == {"balance": 4300, "held": 0, "available": 4300}
    assert await wallet_minor(client, bob) == {"balance": 700, "held": 0, "available": 700}
    await assert_no_duplicate_effect(replicated, [payment])
    await assert_books_balance(client)


@pytest.fixture
async def producer(replicated: Platform) -> AsyncIterator[AIOKafkaProducer]:
    async with started_producer(replicated, "two-instances-test") as kafka:
        yield kafka


async def send_to_both_instances(producer: AIOKafkaProducer, message: OutgoingMessage, *, same_id: bool) -> None:
    """The command twice, on partitions owned by different members: both instances apply it at once."""
    copies = [message, message if same_id else dataclasses.replace(message, id=str(uuid.uuid4()))]
    sends = []
    for copy, partition in zip(copies, PARTITIONS_APART, strict=True):
        key, value, headers = encode(copy)
        sends.append(await producer.send(copy.topic, value=value, key=key, headers=headers, partition=partition))
    await asyncio.gather(*sends)


async def consumed_per_instance(platform: Platform, service: str) -> list[float]:
    """Records each instance of `service` consumed from its command topic, from its metrics."""
    group = f"ledgerline-{service}"
    counts = []
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
        for url in platform.urls(service):
            text = (await http.get(f"{url}/metrics")).text
            counts.append(
                sum(
                    sample.value
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.name == "ledgerline_consumer_records_total" and sample.labels.get("group") == group
                )
            )
    return counts


async def both_instances_consumed(platform: Platform, service: str, before: list[float]) -> bool:
    after = await consumed_per_instance(platform, service)
    return all(now > then for now, then in zip(after, before, strict=True))


async def _held_is(client: LedgerlineClient, wallet_id: str, held: int) -> bool:
    return (await wallet_minor(client, wallet_id))["held"] == held


async def _entry_exists(client: LedgerlineClient, entry_id: uuid.UUID) -> bool:
    return (await client.ledger.get(f"/v1/entries/{entry_id}")).status_code == 200


@pytest.mark.parametrize("same_id", [True, False], ids=["same-message-id", "new-message-id"])
async def test_a_command_delivered_to_both_instances_has_one_effect(
    client: LedgerlineClient, replicated: Platform, producer: AIOKafkaProducer, same_id: bool
) -> None:
    alice = await funded_wallet(client, "alice", "20.00")
    bob = await funded_wallet(client, "bob", "0")
    payment_id = uuid.uuid4()
    played_payment(payment_id)
    src = "/tests/two-instances"

    reserve = c.ReserveFunds(payment_id=payment_id, wallet_id=uuid.UUID(alice), amount_minor=500, currency="EUR")
    wallets_before = await consumed_per_instance(replicated, "wallet")
    await send_to_both_instances(
        producer, c.message(c.RESERVE_FUNDS, reserve, key=str(payment_id), source=src), same_id=same_id
    )
    assert await eventually(lambda: _held_is(client, alice, 500))
    # Each wallet instance took one copy: the guarantee held across processes, not within one.
    assert await eventually(lambda: both_instances_consumed(replicated, "wallet", wallets_before))
    assert await wallet_minor(client, alice) == {"balance": 2000, "held": 500, "available": 1500}

    lines = (
        c.PostingLine(account_id=uuid.UUID(alice), account_kind="wallet", currency="EUR", amount_minor=-500),
        c.PostingLine(account_id=uuid.UUID(bob), account_kind="wallet", currency="EUR", amount_minor=500),
    )
    post = c.PostEntry(entry_id=payment_id, payment_id=payment_id, description="two instances", postings=lines)
    ledgers_before = await consumed_per_instance(replicated, "ledger")
    await send_to_both_instances(
        producer, c.message(c.POST_ENTRY, post, key=str(payment_id), source=src), same_id=same_id
    )
    assert await eventually(lambda: _entry_exists(client, payment_id))
    assert await eventually(lambda: both_instances_consumed(replicated, "ledger", ledgers_before))
    settle = c.SettleFunds(
        payment_id=payment_id,
        currency="EUR",
        debit_wallet_id=uuid.UUID(alice),
        credits=(c.Credit(wallet_id=uuid.UUID(bob), amount_minor=500),),
    )
    wallets_before = await consumed_per_instance(replicated, "wallet")
    await send_to_both_instances(
        producer, c.message(c.SETTLE_FUNDS, settle, key=str(payment_id), source=src), same_id=same_id
    )
    assert await eventually(lambda: _held_is(client, alice, 0))
    assert await eventually(lambda: both_instances_consumed(replicated, "wallet", wallets_before))

    entries = await query(replicated, "ledger", "SELECT id FROM journal_entries WHERE payment_id = $1", payment_id)
    assert len(entries) == 1
    postings = await query(replicated, "ledger", "SELECT id FROM postings WHERE entry_id = $1", payment_id)
    assert len(postings) == 2
    assert await wallet_minor(client, alice) == {"balance": 1500, "held": 0, "available": 1500}
    assert await wallet_minor(client, bob) == {"balance": 500, "held": 0, "available": 500}
    await assert_books_balance(client)


async def post_until_answered(client: LedgerlineClient, body: dict[str, Any], key: str) -> dict[str, Any]:
    """POST with one key until an instance answers 202 (first time or replay), as a client must
    when its instance died under it: the same key makes the retry safe."""
    deadline = time.monotonic() + ANSWER_WAIT_S
    while True:
        try:
            response = await client.post_payment("/v1/transfers", body, key)
            if response.status_code == 202:
                return dict(response.json())
            retryable = response.status_code in (409, 503)
            detail = f"{response.status_code} {response.text}"
        except httpx.TransportError as error:  # The instance died with the request in flight.
            retryable, detail = True, repr(error)
        if not retryable or time.monotonic() > deadline:
            raise AssertionError(f"transfer with key {key} never accepted: {detail}")
        await asyncio.sleep(RETRY_DELAY_S)


async def test_killing_a_payment_and_a_wallet_instance_mid_load_loses_no_payment(
    client: LedgerlineClient, replicated: Platform
) -> None:
    transfers, concurrency, kill_after = 60, 6, 15
    sources = [await funded_wallet(client, f"payer-{i}", "100.00") for i in range(3)]
    sinks = [await funded_wallet(client, f"payee-{i}", "0") for i in range(3)]
    answered: list[dict[str, Any]] = []
    queue = iter(range(transfers))
    enough_sent = asyncio.Event()

    async def sender() -> None:
        for i in queue:
            body = {
                "source_wallet_id": sources[i % 3],
                "destination_wallet_id": sinks[(i + 1) % 3],
                "amount": "1.00",
                "currency": "EUR",
            }
            answered.append(await post_until_answered(client, body, str(uuid.uuid4())))
            if len(answered) >= kill_after:
                enough_sent.set()

    load = asyncio.gather(*(sender() for _ in range(concurrency)))
    await asyncio.wait_for(enough_sent.wait(), ANSWER_WAIT_S)
    # SIGKILL: no shutdown hooks, consumers leave their groups only when the broker gives up on them.
    replicated.stop_service("payment-2", crash=True)
    replicated.stop_service("wallet-2", crash=True)
    await load
    assert len({p["id"] for p in answered}) == transfers
    results = await asyncio.gather(*(client.settle(p["id"], timeout_s=90) for p in answered))
    assert [r["status"] for r in results] == ["COMPLETED"] * transfers
    for source in sources:
        assert await wallet_minor(client, source) == {"balance": 8000, "held": 0, "available": 8000}
    received = [(await wallet_minor(client, sink))["balance"] for sink in sinks]
    assert received == [2000, 2000, 2000]
    await assert_no_duplicate_effect(replicated, results)
    await assert_books_balance(client)
