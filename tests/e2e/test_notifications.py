"""Both parties of a payment are told once per subscription: signed webhooks, templated email
over SMTP, a readable delivery log, and failed webhooks walking the retry topics to the
dead-letter topic with headers that say where they came from, from which a replay delivers
them once the receiver is back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from ledgerline.client import LedgerlineClient
from ledgerline.core import dead_letters as k
from ledgerline.core import topics
from ledgerline.infra.platform import Platform
from ledgerline.infra.process import log_tail
from ledgerline.infra.smtp_sink import read_mailbox
from ledgerline_operator.replay import run_replay
from tests.books import assert_books_balance, funded_wallet
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.polling import eventually


async def test_webhooks_reach_payer_and_payee_once_signed(
    client: LedgerlineClient, notifications: httpx.AsyncClient, receiver: WebhookReceiver, platform: Platform
) -> None:
    alice = await funded_wallet(client, "alice", "50.00")
    bob = await funded_wallet(client, "bob", "0")
    tag = uuid.uuid4().hex[:8]
    await receiver.subscribe(notifications, alice, f"/{tag}/alice")
    await receiver.subscribe(notifications, bob, f"/{tag}/bob")
    payment = await client.transfer(alice, bob, "12.00")
    assert payment["status"] == "COMPLETED"

    def about_transfer() -> dict[str, Any]:
        # Alice may also hear of her own earlier deposit: its event can reach the fan-out after
        # she subscribed, and then she is rightly told. Only the transfer is counted here.
        return {i: d for i, d in receiver.unique(f"/{tag}").items() if d.body["data"]["payment_id"] == payment["id"]}

    assert await eventually(lambda: len(about_transfer()) == 2), log_tail(platform.log_path("notification"))
    await asyncio.sleep(1.0)
    got = about_transfer()
    raw = [d for d in receiver.deliveries if d.body["data"]["payment_id"] == payment["id"]]
    assert len(raw) == 2
    roles = {d.body["_path"].rsplit("/", 1)[1]: d.body["data"] for d in got.values()}
    assert roles["alice"]["role"] == "payer" and roles["bob"]["role"] == "payee"
    assert {r["amount"] for r in roles.values()} == {"12.00"}
    assert all(d.signature_valid and d.body["type"] == "payment.completed" for d in got.values())
    log = (await notifications.get("/v1/notifications", params={"wallet": bob})).json()
    mine = [n for n in log if n["payment_id"] == payment["id"]]
    assert len(mine) == 1 and mine[0]["status"] == "delivered"
    assert [(a["attempt"], a["succeeded"], a["status_code"]) for a in mine[0]["attempts"]] == [(1, True, 204)]
    await assert_books_balance(client)


async def test_email_reaches_the_smtp_sink_rendered(
    client: LedgerlineClient, notifications: httpx.AsyncClient, platform: Platform
) -> None:
    alice = await funded_wallet(client, "alice", "30.00")
    bob = await funded_wallet(client, "bob", "0")
    address = f"bob-{uuid.uuid4().hex[:8]}@example.org"
    response = await notifications.post("/v1/email-subscriptions", json={"wallet_id": bob, "address": address})
    assert response.status_code == 201
    await client.transfer(alice, bob, "7.25")
    failed = await client.transfer(bob, alice, "100.00")
    assert failed["failure_reason"] == "insufficient_funds"

    def mails() -> list[Any]:
        return [m for m in read_mailbox(platform.mail_dir) if m["To"] == address]

    assert await eventually(lambda: len(mails()) == 2)
    by_subject = {m["Subject"]: m.get_content() for m in mails()}
    received = by_subject["Ledgerline: transfer of 7.25 EUR completed"]
    assert "You received 7.25 EUR (transfer)." in received and bob in received
    refused = by_subject["Ledgerline: transfer of 100.00 EUR failed"]
    assert "Your transfer of 100.00 EUR did not go through." in refused
    assert "Reason: insufficient_funds. No money has moved." in refused
    await assert_books_balance(client)


async def read_dead_letters(bootstrap: str, notification_id: str) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topics.dead_letter_topic(topics.NOTIFICATION_DELIVERIES),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found = []
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            records = [r for part in batch.values() for r in part]
            if not records:
                return found
            found += [r for r in records if r.key and r.key.decode() == notification_id]
    finally:
        await consumer.stop()


async def test_dead_letter_is_replayed_once_the_receiver_is_back(
    client: LedgerlineClient, notifications: httpx.AsyncClient, receiver: WebhookReceiver, platform: Platform
) -> None:
    alice = await funded_wallet(client, "alice", "20.00")
    bob = await funded_wallet(client, "bob", "0")
    path = f"/{uuid.uuid4().hex[:8]}/down"
    await receiver.subscribe(notifications, bob, path)
    receiver.stop()  # Connection refused from now on.
    payment = await client.transfer(alice, bob, "3.00")

    async def dead() -> dict[str, Any] | None:
        log = (await notifications.get("/v1/notifications", params={"wallet": bob})).json()
        mine = [n for n in log if n["payment_id"] == payment["id"] and n["status"] == "dead"]
        return mine[0] if mine else None

    notification = await eventually(dead)
    assert notification, "the notification never reached the dead-letter topic"
    assert [a["attempt"] for a in notification["attempts"]] == [1, 2, 3]
    assert all(not a["succeeded"] and "ConnectError" in a["error"] for a in notification["attempts"])
    letters = await read_dead_letters(platform.infra.kafka.bootstrap_servers, notification["id"])
    assert len(letters) == 1
    headers = {name: value.decode() for name, value in letters[0].headers}
    assert headers[k.DLQ_ORIGINAL_TOPIC] == topics.NOTIFICATION_DELIVERIES
    assert int(headers[k.DLQ_ORIGINAL_PARTITION]) >= 0 and int(headers[k.DLQ_ORIGINAL_OFFSET]) >= 0
    assert headers[k.DLQ_ATTEMPT_COUNT] == "3"
    assert "ConnectError" in headers[k.DLQ_ERROR]
    assert headers[k.DLQ_FIRST_FAILURE_TIME] and headers["ce_type"] == "io.ledgerline.notification.delivery"
    assert receiver.unique(path) == {}

    # The receiver is back; the operator's replay code puts the dead letter back on its topic.
    receiver.start()
    reports: list[dict[str, Any]] = []

    async def report(status: dict[str, Any]) -> None:
        reports.append(status)

    spec = {
        "sourceTopic": topics.dead_letter_topic(topics.NOTIFICATION_DELIVERIES),
        "filters": {"key": notification["id"], "originalTopic": topics.NOTIFICATION_DELIVERIES},
        "ratePerSecond": 50,
    }
    bootstrap = platform.infra.kafka.bootstrap_servers
    final = await run_replay(bootstrap, replay_id=str(uuid.uuid4()), spec=spec, status=None, report=report)
    assert final["phase"] == "Succeeded" and final["counts"]["matched"] == 1 and final["counts"]["replayed"] == 1
    assert await eventually(lambda: len(receiver.unique(path)) == 1), log_tail(platform.log_path("notification"))
    delivered = receiver.unique(path)[notification["id"]]
    assert delivered.signature_valid and delivered.body["data"]["payment_id"] == payment["id"]

    # Replaying the same dead letter again (a second replay resource) delivers nothing more.
    again = await run_replay(bootstrap, replay_id=str(uuid.uuid4()), spec=spec, status=None, report=report)
    assert again["counts"]["replayed"] == 1
    await asyncio.sleep(2.0)
    assert len([d for d in receiver.deliveries if d.body["_path"] == path]) == 1
    log = (await notifications.get(f"/v1/notifications/{notification['id']}")).json()
    assert log["status"] == "delivered"
    assert [(a["attempt"], a["succeeded"]) for a in log["attempts"]] == [(1, False), (2, False), (3, False), (4, True)]
    await assert_books_balance(client)


async def test_redelivered_event_and_task_notify_once(
    client: LedgerlineClient, notifications: httpx.AsyncClient, receiver: WebhookReceiver, platform: Platform
) -> None:
    from ledgerline.core import contracts as c
    from ledgerline.core.events import encode
    from ledgerline.core.kafka_clients import create_producer

    alice = await funded_wallet(client, "alice", "10.00")
    bob = await funded_wallet(client, "bob", "0")
    path = f"/{uuid.uuid4().hex[:8]}/bob"
    await receiver.subscribe(notifications, bob, path)
    payment = await client.transfer(alice, bob, "1.00")
    assert await eventually(lambda: len(receiver.unique(path)) == 1)
    notification = (await notifications.get("/v1/notifications", params={"wallet": bob})).json()[0]
    outcome = c.PaymentOutcome(
        payment_id=payment["id"],
        payment_type="transfer",
        status="COMPLETED",
        amount_minor=100,
        currency="EUR",
        source_wallet_id=alice,
        destination_wallet_id=bob,
    )
    # The payment service's outcome event id is derived from the payment, so a re-publish reuses it.
    event_id = str(uuid.uuid5(uuid.UUID(payment["id"]), "outcome:COMPLETED"))
    task = c.DeliveryTask(notification_id=notification["id"])
    producer = create_producer(platform.infra.kafka.bootstrap_servers, "notify-redelivery")
    await producer.start()
    try:
        for message in (
            c.message(c.PAYMENT_COMPLETED, outcome, key=payment["id"], source="/tests", message_id=event_id),
            c.message(c.NOTIFICATION_DELIVERY, task, key=notification["id"], source="/tests"),
        ):
            for _ in range(2):
                key, value, headers = encode(message)
                await (await producer.send(message.topic, value=value, key=key, headers=headers))
    finally:
        await producer.stop()
    await asyncio.sleep(3.0)
    assert len([d for d in receiver.deliveries if d.body["_path"] == path]) == 1
    log = (await notifications.get("/v1/notifications", params={"wallet": bob})).json()
    assert [(n["id"], len(n["attempts"])) for n in log] == [(notification["id"], 1)]
