"""The saga's service layer: load a payment, apply a domain transition, persist, send commands.

Every reply handler locks the payment row, so replies for one payment apply one at a time;
replies that arrive after the saga moved on change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.processing import MessageHandler
from ledgerline.payment import domain as d
from ledgerline.payment import messages, repository
from ledgerline.payment.domain import Payment
from ledgerline.payment.settings import PaymentSettings

Transition = Callable[[Payment], tuple[Payment, list[d.Command]]]


def next_attempt_at(settings: PaymentSettings, payment: Payment) -> datetime | None:
    if payment.terminal:
        return None
    delay = repository.backoff(settings.step_timeout_s, payment.attempts, settings.step_timeout_max_s)
    return datetime.now(UTC) + delay


async def apply(
    uow: UnitOfWork, settings: PaymentSettings, payment_id: uuid.UUID, transition: Transition
) -> Payment | None:
    before = await repository.get(uow.connection, payment_id, for_update=True)
    if before is None:
        return None  # Replies for payments of another environment sharing the topic.
    after, commands = transition(before)
    if after != before:
        await repository.save(uow.connection, before, after, next_attempt_at(settings, after))
    if after.terminal and not before.terminal:
        uow.after_commit(lambda: messages.count_outcome(after))
    uow.publish(*messages.to_messages(after, commands))
    return after


def reply_handlers(settings: PaymentSettings) -> dict[str, MessageHandler]:
    def on(
        model: type[c.Contract], transition: Callable[[Payment, c.Contract], tuple[Payment, list[d.Command]]]
    ) -> MessageHandler:
        async def handle(envelope: Envelope, uow: UnitOfWork) -> None:
            body = model.model_validate(envelope.data)
            await apply(uow, settings, body.payment_id, lambda p: transition(p, body))  # type: ignore[attr-defined]

        return handle

    return {
        c.FUNDS_RESERVED: on(c.FundsReserved, lambda p, _: d.on_funds_reserved(p)),
        c.FUNDS_REJECTED: on(c.FundsRejected, lambda p, b: d.on_funds_rejected(p, b.reason)),  # type: ignore[attr-defined]
        c.FUNDS_RELEASED: on(c.FundsReleased, lambda p, _: d.on_funds_released(p)),
        c.FUNDS_SETTLED: on(c.FundsSettled, lambda p, _: d.on_funds_settled(p)),
        c.ENTRY_POSTED: on(c.EntryPosted, lambda p, _: d.on_entry_posted(p)),
        c.ENTRY_REJECTED: on(c.EntryRejected, lambda p, b: d.on_entry_rejected(p, b.reason)),  # type: ignore[attr-defined]
        c.ENTRY_VOIDED: on(c.EntryVoided, lambda p, _: d.on_entry_voided(p)),
    }


async def run_due_steps(engine_uow: Callable[[], UnitOfWork], settings: PaymentSettings) -> int:
    """One pass of the saga timer: re-send or escalate every step past its deadline."""
    async with engine_uow() as uow:
        due = await repository.due(uow.connection, datetime.now(UTC), settings.saga_scan_batch_size_max)
        for before in due:
            after, commands = d.on_timeout(before, settings.step_attempts_max)
            await repository.save(uow.connection, before, after, next_attempt_at(settings, after))
            uow.publish(*messages.to_messages(after, commands))
        await uow.commit()
    return len(due)
