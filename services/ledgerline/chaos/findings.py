"""What the chaos test judges beyond `ledgerline verify`, on recorded values. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledgerline.chaos.load import Attempted
from ledgerline.verify.checks import TERMINAL_STATUSES

ANNOUNCED_AS = {"COMPLETED": "io.ledgerline.payment.completed"}
FAILED_EVENT = "io.ledgerline.payment.failed"
# A 422 with one of these codes means the platform mistook a retry for a different request.
IDEMPOTENCY_CODES = frozenset({"idempotency_key_reused", "idempotency_key_invalid"})


@dataclass(frozen=True, slots=True)
class ChaosFinding:
    check: str
    subject: str
    detail: str


def retries_got_one_payment(keys: Sequence[Attempted]) -> list[ChaosFinding]:
    findings = []
    for a in keys:
        if len(set(a.payment_ids)) > 1:
            detail = f"{a.kind} retried {a.attempts}x got payments {sorted(set(a.payment_ids))}"
            findings.append(ChaosFinding("retry_same_payment", a.key, detail))
        if a.refused and a.refused[1] in IDEMPOTENCY_CODES:
            findings.append(ChaosFinding("retry_same_payment", a.key, f"retry refused: {a.refused}"))
        if a.gave_up:
            findings.append(ChaosFinding("request_answered", a.key, f"{a.kind} unanswered after {a.attempts} tries"))
    return findings


def terminal_in_time(statuses: Mapping[str, str | None], bound_s: float) -> list[ChaosFinding]:
    return [
        ChaosFinding("terminal_within_bound", payment_id, f"still {status} {bound_s:.0f}s after the last fault")
        for payment_id, status in sorted(statuses.items())
        if status not in TERMINAL_STATUSES
    ]


def announced_once(
    statuses: Mapping[str, str | None], events: Mapping[str, Sequence[tuple[str, str]]]
) -> list[ChaosFinding]:
    """`events` maps a payment id to its announcements as (event id, type), redeliveries included.

    The relay publishes at least once, so one announcement may sit in the topic twice under the
    same event id (consumers' inboxes drop the copy); two different event ids, or an announcement
    that contradicts the final status, is a payment announced twice or wrongly.
    """
    findings = []
    for payment_id, status in sorted(statuses.items()):
        if status not in TERMINAL_STATUSES:
            continue
        announced = dict(events.get(payment_id, ()))
        expected = ANNOUNCED_AS.get(status, FAILED_EVENT)
        if len(announced) != 1:
            detail = f"{status} payment announced {len(announced)} times (event ids {sorted(announced)})"
            findings.append(ChaosFinding("announced_once", payment_id, detail))
        elif next(iter(announced.values())) != expected:
            detail = f"{status} payment announced as {next(iter(announced.values()))}"
            findings.append(ChaosFinding("announced_once", payment_id, detail))
    return findings


@dataclass(frozen=True, slots=True)
class Heard:
    """One webhook call as its receiver kept it, before any duplicate is dropped."""

    path: str
    webhook_id: str
    signed: bool  # By the secret of the subscription at `path`.
    body: Mapping[str, Any]

    @property
    def payment_id(self) -> str:
        return str(self.body.get("data", {}).get("payment_id"))


def webhooks_delivered_once(
    statuses: Mapping[str, str | None],
    parties: Mapping[str, Collection[str]],
    subscriptions: Mapping[str, str],
    heard: Sequence[Heard],
) -> list[ChaosFinding]:
    """Every terminal payment reached each subscription of its wallets once, by `webhook-id`.

    `parties` maps a payment id to its wallets, `subscriptions` a receiver path to its wallet.
    A call the subscription's secret did not sign, or about a payment its wallet had no part in,
    is a delivery to the wrong subscription; copies under one `webhook-id` are the at-least-once
    delivery a receiver drops, two ids for one payment and subscription a payment told twice.
    """
    findings, kept = _rightly_addressed(statuses, parties, subscriptions, heard)
    for payment_id, status in sorted(statuses.items()):
        if status not in TERMINAL_STATUSES:
            continue
        for path, wallet_id in sorted(subscriptions.items()):
            ids = kept.get((path, payment_id), set())
            if wallet_id in parties.get(payment_id, ()) and len(ids) != 1:
                detail = f"{status} payment reached subscription {path} {len(ids)} times (webhook ids {sorted(ids)})"
                findings.append(ChaosFinding("webhook_delivered_once", payment_id, detail))
    return findings


def _rightly_addressed(
    statuses: Mapping[str, str | None],
    parties: Mapping[str, Collection[str]],
    subscriptions: Mapping[str, str],
    heard: Sequence[Heard],
) -> tuple[list[ChaosFinding], dict[tuple[str, str], set[str]]]:
    """Findings on calls sent where they should not go, and the webhook ids of the others per
    (path, payment)."""
    findings = []
    kept: dict[tuple[str, str], set[str]] = {}
    for call in heard:
        wallet_id = subscriptions.get(call.path)
        data = call.body.get("data", {})
        status = statuses.get(call.payment_id)
        if wallet_id is None or not call.signed:
            detail = f"call {call.webhook_id} not signed by a subscription at {call.path}"
            findings.append(ChaosFinding("webhook_signed", call.payment_id, detail))
        elif data.get("wallet_id") != wallet_id or wallet_id not in parties.get(call.payment_id, ()):
            detail = f"subscription {call.path} told of a payment of other wallets"
            findings.append(ChaosFinding("webhook_right_subscription", call.payment_id, detail))
        elif status in TERMINAL_STATUSES and (call.body.get("type"), data.get("status")) != (_told_as(status), status):
            detail = f"{status} payment told as {call.body.get('type')} {data.get('status')}"
            findings.append(ChaosFinding("webhook_outcome", call.payment_id, detail))
        else:
            kept.setdefault((call.path, call.payment_id), set()).add(call.webhook_id)
    return findings, kept


def _told_as(status: str) -> str:
    return "payment.completed" if status == "COMPLETED" else "payment.failed"
