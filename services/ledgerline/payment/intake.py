"""Accepting payments: the payment row, its first command and the stored response commit together.

Payments that arrive while a group is being written wait and go together in the next one
(one transaction, a few multi-row statements), so under load a commit carries many payments
and the database does a fraction of the round trips; alone, a payment waits for nobody. A
payment whose rule needs row locks (the refund limit) is written on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.db import UnitOfWork
from ledgerline.core.idempotency import IdempotencyStore, StoredResponse
from ledgerline.core.problems import Problem
from ledgerline.core.telemetry import current_traceparent
from ledgerline.payment import domain as d
from ledgerline.payment import group_holds, repository, saga
from ledgerline.payment.domain import Payment
from ledgerline.payment.settings import PaymentSettings

_log = logging.getLogger(__name__)
GROUP_SIZE = Histogram(
    "ledgerline_payment_intake_group_size",
    "Payments accepted per transaction",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
Check = Callable[[AsyncConnection, Payment], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Acceptance:
    key: str
    fingerprint: str
    response: StoredResponse
    payment: Payment
    commands: Sequence[d.Command]
    # Taken where the request is served: the group that writes it runs in another task.
    traceparent: str | None = field(default_factory=current_traceparent)


class PaymentIntake:
    def __init__(
        self,
        *,
        make_uow: Callable[[], UnitOfWork],
        store: IdempotencyStore,
        settings: PaymentSettings,
        clock: saga.StepClock,
    ) -> None:
        self._make_uow = make_uow
        self._clock = clock
        # Sagas still running, as last counted (by the saga timer); new payments wait above the limit.
        self.active_payments = 0
        self._store = store
        self._settings = settings
        self._waiting: list[tuple[Acceptance, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def accept(self, item: Acceptance, check: Check | None = None) -> bool:
        """True once the payment committed and its response is stored; False if its key was
        already taken by another."""
        if check is not None:
            return await self._write_alone(item, check)
        if (
            len(self._waiting) >= self._settings.intake_queue_max
            or self.active_payments >= self._settings.active_payments_max
        ):
            raise overloaded(self._settings.intake_retry_after_s)
        accepted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, accepted))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting(), name="payment-intake")
        return await accepted

    async def accept_many(self, items: Sequence[Acceptance]) -> list[bool]:
        """`accept` for many payments at once (distinct keys, no row-lock rules), in order."""
        if len(self._waiting) + len(items) > self._settings.intake_queue_max + self._settings.intake_group_size_max:
            raise overloaded(self._settings.intake_retry_after_s)
        if self.active_payments >= self._settings.active_payments_max:
            raise overloaded(self._settings.intake_retry_after_s)
        loop = asyncio.get_running_loop()
        waiting = [(item, loop.create_future()) for item in items]
        self._waiting.extend(waiting)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting(), name="payment-intake")
        return list(await asyncio.gather(*(accepted for _, accepted in waiting)))

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                size = self._settings.intake_group_size_max
                group, self._waiting = self._waiting[:size], self._waiting[size:]
                await self._write_group(group)
        finally:
            self._writer = None

    async def _write_group(self, group: list[tuple[Acceptance, asyncio.Future[bool]]]) -> None:
        try:
            async with self._make_uow() as uow:
                first: dict[str, Acceptance] = {}
                for item, _ in group:
                    first.setdefault(item.key, item)  # The same key twice: the first one counts.
                claimed = await self._store.record_many(
                    uow.connection, [(item.key, item.fingerprint, item.response) for item in first.values()]
                )
                mine = [item for key, item in first.items() if key in claimed]
                await self._add(uow, mine)
                await uow.commit()
            await self._remember(mine)
        except Exception as error:
            for _, accepted in group:
                if not accepted.done():
                    accepted.set_exception(error)
            return
        GROUP_SIZE.observe(len(mine))
        written = {id(item) for item in mine}
        for item, accepted in group:
            if not accepted.done():  # A client that went away no longer waits.
                accepted.set_result(id(item) in written)

    async def accept_all(self, items: Sequence[Acceptance]) -> bool:
        """Every payment commits in one transaction, or none does: False if another request had
        taken any of the keys (distinct keys)."""
        if self.active_payments >= self._settings.active_payments_max:
            raise overloaded(self._settings.intake_retry_after_s)
        return await self._write_together(items)

    async def _write_alone(self, item: Acceptance, check: Check) -> bool:
        return await self._write_together([item], check)

    async def _write_together(self, items: Sequence[Acceptance], check: Check | None = None) -> bool:
        async with self._make_uow() as uow:
            claimed = await self._store.record_many(
                uow.connection, [(item.key, item.fingerprint, item.response) for item in items]
            )
            if len(claimed) != len(items):
                return False  # Rolled back: not one of them is written.
            for item in items:
                if check is not None:
                    await check(uow.connection, item.payment)
            await self._add(uow, items)
            await uow.commit()
        await self._remember(items)
        return True

    async def _remember(self, items: Sequence[Acceptance]) -> None:
        """The stored responses of a committed group into the fast path, in one round trip,
        before any of its clients hears back (a retry then replays instead of waiting)."""
        await self._store.finish_many([(item.key, item.fingerprint, item.response) for item in items])

    async def _add(self, uow: UnitOfWork, items: Sequence[Acceptance]) -> None:
        await repository.add_many(
            uow.connection, [(item.payment, self._clock.next_attempt_at(item.payment)) for item in items]
        )
        sent = [(item.payment, item.commands, item.traceparent) for item in items]
        uow.publish(*await group_holds.saga_messages(uow.connection, sent))


def overloaded(retry_after_s: int) -> Problem:
    return Problem(
        503,
        "overloaded",
        "Too many payments waiting",
        f"the service is at capacity; retry after {retry_after_s}s",
        headers={"Retry-After": str(retry_after_s)},
    )
