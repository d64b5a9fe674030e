"""What the chaos test judges beyond `ledgerline verify`, on recorded values. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
