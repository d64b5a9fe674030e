"""One chaos seed from start to verdict, and a run of several seeds on one platform."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from sqlalchemy import text

from ledgerline.chaos import findings as f
from ledgerline.chaos import load, webhooks
from ledgerline.chaos.faults import Injector
from ledgerline.chaos.platform import ChaosPlatform
from ledgerline.chaos.schedule import Plan, plan
from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.core.events import MalformedMessage, decode
from ledgerline.core.topics import PAYMENT_EVENTS
from ledgerline.verify.checks import TERMINAL_STATUSES
from ledgerline.verify.reading import Limits, Sources, read_only, verify
from ledgerline.verify.report import Report

ANNOUNCEMENT_TYPES = frozenset({f.FAILED_EVENT, *f.ANNOUNCED_AS.values()})
POLL_S = 1.0
# The broker is read to its end offsets as they were when the read began, this long at most.
TOPIC_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    load_s: float = 30.0
    faults: int = 5
    # Longer than the saga step timeout (platform.STEP_TIMEOUT_S), as the issue asks of a pause.
    pause_s: float = 5.0
    # Every process must be back and ready this long after the last fault ended: a restarted
    # broker replays its logs first, which takes minutes on a busy machine.
    heal_bound_s: float = 300.0
    # Every accepted payment must be terminal this long after the platform is whole again.
    settle_bound_s: float = 120.0


@dataclass
class SeedResult:
    seed: int
    plan: Plan
    figures: dict[str, Any] = field(default_factory=dict)
    findings: list[f.ChaosFinding] = field(default_factory=list)
    books: Report | None = None

    @property
    def ok(self) -> bool:
        return not self.findings and self.books is not None and self.books.ok


async def run_seed(chaos: ChaosPlatform, seed: int, options: ChaosOptions, log: Callable[[str], None]) -> SeedResult:
    platform = chaos.platform
    result = SeedResult(seed, plan(seed, load_s=options.load_s, faults=options.faults, pause_s=options.pause_s))
    # One customer sends the whole load, as its own wallets' owner (money moves only by its owner).
    email = f"chaos-seed-{seed}-{uuid.uuid4().hex[:8]}@example.com"
    customer = await register_customer(platform.url("identity"), email)
    client = LedgerlineClient(platform.url("wallet"), platform.url("ledger"), platform.url("payment"), auth=customer)
    injector = Injector(platform, log, chaos.network)
    restarts_before = sum(chaos.restarts().values())
    try:
        wallets = await load.open_funded_wallets(client, f"chaos-seed-{seed}")
        subscribed = await webhooks.subscribe(platform.url("notification"), customer, wallets, chaos.webhooks.url)
        recorded = load.Recorded()
        deadline = time.monotonic() + options.load_s + options.heal_bound_s + options.settle_bound_s
        mix = load.Mix(client, wallets, random.Random(seed), recorded, deadline)
        started = time.monotonic()
        await asyncio.gather(load.drive(mix, options.load_s), injector.run(result.plan, started))
    finally:
        await injector.heal()
        await client.aclose()
    faults_ended_at = time.monotonic()
    if not await asyncio.to_thread(chaos.wait_healthy, options.heal_bound_s):
        detail = f"not every process is back and ready {options.heal_bound_s:.0f}s after the last fault"
        result.findings.append(f.ChaosFinding("platform_healed", "platform", detail))
    healed_at = time.monotonic()
    sources = Sources.on_server(platform.infra.database_url("payment"))
    statuses = await settled(sources, recorded.accepted, healed_at + options.settle_bound_s)
    events = await announcements(platform.infra.kafka.bootstrap_servers, statuses, healed_at + options.settle_bound_s)
    result.findings += f.retries_got_one_payment(recorded.keys)
    result.findings += f.terminal_in_time(statuses, options.settle_bound_s)
    result.findings += f.announced_once(statuses, events)
    told, heard = await webhooks.delivered_once(
        sources.payment_url, chaos.webhooks.file, subscribed, statuses, healed_at + options.settle_bound_s
    )
    result.findings += told
    stale_after_s = options.load_s + options.heal_bound_s + options.settle_bound_s
    result.books = await verify(sources, Limits(stale_after_s=stale_after_s))
    result.figures = figures(recorded, statuses, events, sum(chaos.restarts().values()) - restarts_before)
    result.figures |= webhook_figures(subscribed, heard)
    result.figures["healed_after_s"] = round(healed_at - faults_ended_at, 1)
    result.figures["settled_after_s"] = round(time.monotonic() - healed_at, 1)
    return result


async def settled(sources: Sources, payment_ids: Sequence[str], deadline: float) -> dict[str, str | None]:
    """Final statuses, polled from the payment database until all are terminal or `deadline` passes."""
    while True:
        async with read_only(sources.payment_url) as payments:
            rows = await payments.execute(
                text("SELECT id::text, status FROM payments WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": list(payment_ids)},
            )
            found: dict[str, str | None] = {str(row[0]): row[1] for row in rows}
        statuses = {payment_id: found.get(payment_id) for payment_id in payment_ids}
        if all(s in TERMINAL_STATUSES for s in statuses.values()) or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(POLL_S)


async def announcements(
    bootstrap: str, statuses: dict[str, str | None], deadline: float
) -> dict[str, list[tuple[str, str]]]:
    """Announcements per payment in the payment events topic, re-read until every terminal payment
    has one (the relay may still be publishing) or `deadline` passes."""
    events: dict[str, list[tuple[str, str]]] = {}
    while True:
        try:
            events = await read_topic(bootstrap, set(statuses))
        except (KafkaError, OSError, TimeoutError):
            # The broker may still be restarting; what is missing at the deadline is a finding.
            if time.monotonic() > deadline:
                return events
            await asyncio.sleep(POLL_S)
            continue
        missing = [p for p, s in statuses.items() if s in TERMINAL_STATUSES and p not in events]
        if not missing or time.monotonic() > deadline:
            return events
        await asyncio.sleep(POLL_S)


async def read_topic(bootstrap: str, wanted: set[str]) -> dict[str, list[tuple[str, str]]]:
    # Without a group the consumer is given every partition of the topic once it knows them.
    consumer = AIOKafkaConsumer(
        PAYMENT_EVENTS,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
    )
    found: dict[str, list[tuple[str, str]]] = {}
    try:
        await consumer.start()
        give_up_at = time.monotonic() + TOPIC_READ_TIMEOUT_S
        while not consumer.assignment():
            if time.monotonic() > give_up_at:
                raise TimeoutError(f"no partitions of {PAYMENT_EVENTS} in {TOPIC_READ_TIMEOUT_S:.0f}s")
            await asyncio.sleep(0.1)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > give_up_at:
                raise TimeoutError(f"could not read {PAYMENT_EVENTS} to its end in {TOPIC_READ_TIMEOUT_S:.0f}s")
            batches = await consumer.getmany(*partitions, timeout_ms=1_000)
            for record in (r for records in batches.values() for r in records):
                _collect(record, wanted, found)
    finally:
        await consumer.stop()
    return found


def _collect(record: Any, wanted: set[str], found: dict[str, list[tuple[str, str]]]) -> None:
    try:
        envelope = decode(key=record.key, value=record.value, headers=record.headers or ())
    except MalformedMessage:
        return
    payment_id = str(envelope.data.get("payment_id"))
    if envelope.type in ANNOUNCEMENT_TYPES and payment_id in wanted:
        found.setdefault(payment_id, []).append((envelope.id, envelope.type))


def figures(
    recorded: load.Recorded, statuses: dict[str, str | None], events: dict[str, list[tuple[str, str]]], restarts: int
) -> dict[str, Any]:
    copies = sum(len(e) - len(dict(e)) for e in events.values())
    return {
        "requests": len(recorded.keys),
        "attempts": sum(a.attempts for a in recorded.keys),
        "retried_requests": sum(1 for a in recorded.keys if a.attempts > 1),
        "accepted": len(statuses),
        "statuses": dict(Counter(str(s) for s in statuses.values())),
        "refused": dict(Counter(f"{a.refused[0]} {a.refused[1]}" for a in recorded.keys if a.refused)),
        "by_kind": dict(Counter(a.kind for a in recorded.keys)),
        "announcement_copies": copies,  # Re-published copies of one announcement (same event id).
        "process_restarts": restarts,
    }


def webhook_figures(subscribed: Sequence[webhooks.Subscribed], heard: Sequence[f.Heard]) -> dict[str, Any]:
    return {
        "webhook_subscriptions": len(subscribed),
        "webhook_calls": len(heard),
        # Calls that repeated one already received (same webhook-id), which the receiver drops.
        "webhook_copies": len(heard) - len({(h.path, h.webhook_id) for h in heard}),
    }
