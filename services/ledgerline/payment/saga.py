"""The saga's service layer: lock payments, apply domain transitions, persist, send commands.

Replies are applied a consumed batch at a time: every payment the batch names is locked with
one statement (in id order, so concurrent batches cannot deadlock), the transitions run in
memory in the order the replies arrived, and each payment is written once. Replies that
arrive after the saga moved on change nothing.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from prometheus_client import Gauge, Histogram

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.processing import BatchHandling
from ledgerline.core.telemetry import tracing_enabled
from ledgerline.payment import domain as d
from ledgerline.payment import group_holds, messages, repository
from ledgerline.payment.domain import Payment
from ledgerline.payment.repository import Change
from ledgerline.payment.settings import PaymentSettings

Transition = Callable[[Payment], tuple[Payment, list[d.Command]]]
Step = tuple[uuid.UUID, Transition]


STEP_TIMEOUT = Gauge("ledgerline_saga_step_timeout_seconds", "Current timeout of a saga step before it is re-sent")
STEP_DURATION = Histogram(
    "ledgerline_saga_step_duration_seconds",
    "From a saga step's start to the reply that moved the payment on, by payment type and the status it waited in",
    ["type", "step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# Series from the start, for every panel: each payment type waiting in each status a step can end.
for _type in d.PaymentType:
    for _status in d.Status:
        if _status not in d.TERMINAL:
            STEP_DURATION.labels(_type.value, _status.value.lower())
STEP_SAMPLES_MAX = 512
STEP_TIMEOUT_REFRESH_EVERY = 64
# A step is re-sent only after this many times the slowest 1% of recent steps: under load a
# reply is late, not lost, and re-sending it would only add to the load that made it late.
STEP_TIMEOUT_FACTOR = 4.0


class StepClock:
    """When a saga step that got no reply is re-sent: the configured timeout, or longer while
    measured steps take longer; doubled for each attempt, never past the configured maximum."""

    def __init__(self, settings: PaymentSettings) -> None:
        self._floor_s = settings.step_timeout_s
        self._max_s = settings.step_timeout_max_s
        self._recent: deque[float] = deque(maxlen=STEP_SAMPLES_MAX)
        self._unseen = 0
        self.timeout_s = self._floor_s
        STEP_TIMEOUT.set(self.timeout_s)

    def observe(self, step_s: float) -> None:
        self._recent.append(step_s)
        self._unseen += 1
        if self._unseen >= STEP_TIMEOUT_REFRESH_EVERY:
            self._unseen = 0
            ordered = sorted(self._recent)
            slow_s = ordered[int(0.99 * (len(ordered) - 1))]
            self.timeout_s = min(max(self._floor_s, STEP_TIMEOUT_FACTOR * slow_s), self._max_s)
            STEP_TIMEOUT.set(self.timeout_s)

    def next_attempt_at(self, payment: Payment, now: datetime | None = None) -> datetime | None:
        if payment.terminal:
            return None
        return (now or datetime.now(UTC)) + repository.backoff(self.timeout_s, payment.attempts, self._max_s)


async def apply_steps(uow: UnitOfWork, clock: StepClock, steps: Sequence[Step]) -> dict[uuid.UUID, Payment]:
    """Apply each step to its payment, in order; returns the payments as they end."""
    found = await repository.lock_many(uow.connection, [payment_id for payment_id, _ in steps])
    locked, changed_at = found.payments, found.changed_at
    now = datetime.now(UTC)
    current = dict(locked)
    moves: list[tuple[Payment, Payment]] = []
    for payment_id, transition in steps:
        before = current.get(payment_id)
        if before is None:
            continue  # Replies for payments of another environment sharing the topic.
        after, commands = transition(before)
        if after != before:
            if before is locked[payment_id] and after.status is not before.status:
                step_s = (now - changed_at[payment_id]).total_seconds()
                clock.observe(step_s)
                step = STEP_DURATION.labels(before.type.value, before.status.value.lower())
                uow.after_commit(partial(step.observe, max(0.0, step_s)))
            moves.append((before, after))
            current[payment_id] = after
        if after.terminal and not before.terminal:
            took_s = (now - found.created_at[payment_id]).total_seconds()
            uow.after_commit(partial(messages.count_outcome, after, took_s))
        uow.publish(*messages.to_messages(after, commands))
    changes = [Change(locked[i], p, clock.next_attempt_at(p, now)) for i, p in current.items() if p != locked[i]]
    await repository.save_many(uow.connection, changes, moves)
    return current


_Reply = tuple[type[Any], Callable[[Payment, Any], tuple[Payment, list[d.Command]]]]
REPLIES: dict[str, _Reply] = {
    c.FUNDS_RESERVED: (c.FundsReserved, lambda p, _: d.on_funds_reserved(p)),
    c.FUNDS_REJECTED: (c.FundsRejected, lambda p, b: d.on_funds_rejected(p, b.reason)),
    c.FUNDS_RELEASED: (c.FundsReleased, lambda p, _: d.on_funds_released(p)),
    c.FUNDS_SETTLED: (c.FundsSettled, lambda p, _: d.on_funds_settled(p)),
    c.ENTRY_POSTED: (c.EntryPosted, lambda p, _: d.on_entry_posted(p)),
    c.ENTRY_REJECTED: (c.EntryRejected, lambda p, b: d.on_entry_rejected(p, b.reason)),
    c.ENTRY_VOIDED: (c.EntryVoided, lambda p, _: d.on_entry_voided(p)),
}


def reply_handling(clock: StepClock) -> BatchHandling:
    """Wallet and ledger replies, applied a batch at a time."""

    async def apply_replies(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
        steps: list[Step] = []
        for envelope in envelopes:
            model, transition = REPLIES[envelope.type]
            body = model.model_validate(envelope.data)
            steps.append((body.payment_id, _bind(transition, body)))
        await apply_steps(uow, clock, steps)

    return BatchHandling(frozenset(REPLIES), apply_replies)


def _bind(transition: Callable[[Payment, Any], tuple[Payment, list[d.Command]]], body: Any) -> Transition:
    return lambda payment: transition(payment, body)


async def run_due_steps(engine_uow: Callable[[], UnitOfWork], settings: PaymentSettings, clock: StepClock) -> int:
    """One pass of the saga timer: re-send or escalate every step past its deadline."""
    async with engine_uow() as uow:
        due = await repository.due(uow.connection, datetime.now(UTC), settings.saga_scan_batch_size_max)
        traces = await repository.traces(uow.connection, [p.id for p in due]) if tracing_enabled() and due else {}
        changes: list[Change] = []
        moves: list[tuple[Payment, Payment]] = []
        sent: list[group_holds.Sent] = []
        for before in due:
            after, commands = d.on_timeout(before, settings.step_attempts_max)
            changes.append(Change(before, after, clock.next_attempt_at(after)))
            moves.append((before, after))
            # In the payment's own trace: the timer's pass serves every payment that is due.
            sent.append((after, commands, traces.get(before.id)))
        uow.publish(*await group_holds.saga_messages(uow.connection, sent))
        await repository.save_many(uow.connection, changes, moves)
        await uow.commit()
    return len(due)
