"""The chaos test's schedule is a function of its seed, and its judgements catch a retry that got
a second payment, a payment left in flight and a payment announced twice or not at all."""

from __future__ import annotations

import pytest

from ledgerline.chaos import findings as f
from ledgerline.chaos.load import Attempted
from ledgerline.chaos.schedule import FAULTS_PER_SEED_MAX, Kind, plan

DECK = len(Kind) + 1  # Every kind once, kills twice.


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    first = plan(7, load_s=30, faults=DECK, pause_s=5)
    assert first == plan(7, load_s=30, faults=DECK, pause_s=5)
    assert first != plan(8, load_s=30, faults=DECK, pause_s=5)
    times = [fault.at_s for fault in first.faults]
    assert times == sorted(times) and times[0] > 0 and times[-1] < 30
    # A deck of every kind is dealt before any kind repeats.
    assert {fault.kind for fault in first.faults} == set(Kind)
    pauses = [fault for fault in first.faults if fault.kind is Kind.PAUSE]
    assert all(fault.duration_s >= 5 for fault in pauses)


def test_network_faults_and_redis_loss_are_planned_with_what_a_replay_needs() -> None:
    faults = [fault for seed in range(20) for fault in plan(seed, load_s=30, faults=DECK, pause_s=5).faults]
    network = [fault for fault in faults if fault.kind in (Kind.NET_LATENCY, Kind.NET_DROP, Kind.NET_STALL)]
    assert {fault.targets for fault in network} == {("kafka",), ("postgresql",)}
    assert all(fault.duration_s > 0 for fault in network)
    latencies = [fault for fault in network if fault.kind is Kind.NET_LATENCY]
    assert all(200 <= fault.latency_ms <= 1500 and f"+{fault.latency_ms}ms" in fault.describe() for fault in latencies)
    stalls = [fault for fault in network if fault.kind is Kind.NET_STALL]
    assert {fault.direction for fault in stalls} == {"upstream", "downstream"}
    assert all(fault.direction in fault.describe() for fault in stalls)
    assert {fault.targets for fault in faults if fault.kind is Kind.REDIS_LOST} == {("redis",)}


def test_fault_count_is_bounded() -> None:
    plan(1, load_s=10, faults=FAULTS_PER_SEED_MAX, pause_s=5)
    with pytest.raises(ValueError, match="faults must be within"):
        plan(1, load_s=10, faults=FAULTS_PER_SEED_MAX + 1, pause_s=5)


def test_a_retry_that_got_another_payment_or_no_answer_is_a_finding() -> None:
    fine = Attempted("k1", "transfer", 3, ["p1", "p1"])
    doubled = Attempted("k2", "deposit", 2, ["p2", "p3"])
    unanswered = Attempted("k3", "refund", 9, [], gave_up=True)
    refused = Attempted("k4", "refund", 1, [], refused=(422, "refund_exceeds_original"))
    found = f.retries_got_one_payment([fine, doubled, unanswered, refused])
    assert [(x.check, x.subject) for x in found] == [("retry_same_payment", "k2"), ("request_answered", "k3")]


def test_payments_in_flight_after_the_bound_are_findings() -> None:
    found = f.terminal_in_time({"p1": "COMPLETED", "p2": "POSTED", "p3": None}, 120)
    assert [x.subject for x in found] == ["p2", "p3"]


def test_each_terminal_payment_is_announced_exactly_once_with_its_outcome() -> None:
    statuses = {"ok": "COMPLETED", "copy": "FAILED", "twice": "COMPLETED", "lost": "COMPENSATED", "wrong": "FAILED"}
    completed, failed = f.ANNOUNCED_AS["COMPLETED"], f.FAILED_EVENT
    events = {
        "ok": [("e1", completed)],
        "copy": [("e2", failed), ("e2", failed)],  # A re-published copy: the same event.
        "twice": [("e3", completed), ("e4", completed)],
        "wrong": [("e5", completed)],
    }
    found = f.announced_once(statuses, events)
    assert [x.subject for x in found] == ["lost", "twice", "wrong"]


def _told(path: str, webhook_id: str, payment_id: str, wallet_id: str, status: str, signed: bool = True) -> f.Heard:
    kind = "payment.completed" if status == "COMPLETED" else "payment.failed"
    body = {"type": kind, "data": {"payment_id": payment_id, "wallet_id": wallet_id, "status": status}}
    return f.Heard(path, webhook_id, signed, body)


def test_each_outcome_reaches_each_subscription_of_its_wallets_once_and_no_other() -> None:
    statuses = {"ok": "COMPLETED", "lost": "FAILED", "twice": "COMPLETED", "wrong": "COMPENSATED"}
    parties = {"ok": {"a", "b"}, "lost": {"a"}, "twice": {"b"}, "wrong": {"a"}, "other": {"c"}}
    subscriptions = {"/a1": "a", "/a2": "a", "/b": "b"}
    heard = [
        _told("/a1", "n1", "ok", "a", "COMPLETED"),
        _told("/a1", "n1", "ok", "a", "COMPLETED"),  # A re-sent copy: the same webhook-id.
        _told("/a2", "n2", "ok", "a", "COMPLETED"),
        _told("/b", "n3", "ok", "b", "COMPLETED"),
        _told("/a1", "n4", "lost", "a", "FAILED"),
        _told("/a2", "n5", "lost", "a", "FAILED"),
        _told("/b", "n6", "twice", "b", "COMPLETED"),
        _told("/b", "n7", "twice", "b", "COMPLETED"),
        _told("/a1", "n8", "wrong", "a", "COMPLETED"),  # Told as completed, but it was compensated.
        _told("/a2", "n9", "wrong", "a", "COMPENSATED"),
        _told("/b", "n10", "other", "b", "COMPLETED"),  # A payment of wallet c told to b's subscription.
        _told("/a1", "n11", "lost", "a", "FAILED", signed=False),  # Not signed by /a1's secret.
    ]
    found = f.webhooks_delivered_once(statuses, parties, subscriptions, heard)
    assert sorted((x.check, x.subject) for x in found) == [
        ("webhook_delivered_once", "twice"),
        ("webhook_delivered_once", "wrong"),
        ("webhook_outcome", "wrong"),
        ("webhook_right_subscription", "other"),
        ("webhook_signed", "lost"),
    ]
    # Until the last deliveries arrive, what has not arrived is missing, per subscription.
    missing = f.webhooks_delivered_once(statuses, parties, subscriptions, heard[:6])
    assert [(x.subject, x.detail.split(" reached subscription ")[1]) for x in missing] == [
        ("twice", "/b 0 times (webhook ids [])"),
        ("wrong", "/a1 0 times (webhook ids [])"),
        ("wrong", "/a2 0 times (webhook ids [])"),
    ]
