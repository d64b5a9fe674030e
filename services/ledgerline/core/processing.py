"""Applying a consumed batch: inbox claim, handler per message type, one commit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.inbox import claim_new
from ledgerline.core.telemetry import batch_trace, continue_trace, current_traceparent, event_spans, tracing_enabled

MessageHandler = Callable[[Envelope, UnitOfWork], Awaitable[None]]
_log = logging.getLogger(__name__)

DUPLICATES = Counter("ledgerline_consumer_duplicates_total", "Redelivered messages skipped by the inbox", ["consumer"])
IGNORED = Counter(
    "ledgerline_consumer_ignored_total",
    "Messages of a type this consumer does not handle",
    ["consumer", "type"],
)


@dataclass(frozen=True, slots=True)
class BatchHandling:
    """Messages of `types` applied all at once: `apply(envelopes, uow)` gets every new one of a
    consumed batch, in order, so it can read and write them with a few set-based statements."""

    types: frozenset[str]
    apply: Callable[[Sequence[Envelope], UnitOfWork], Awaitable[None]]
    # Also apply messages the inbox has seen before: for handlers whose every outcome is stored
    # and repeated (an idempotent command answers a re-send with the same reply).
    answers_duplicates: bool = False

    @staticmethod
    def together(*handlings: BatchHandling) -> BatchHandling:
        """Several handlings on one subscription: each gets its own types of a batch, in turn."""

        async def apply(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
            for handling in handlings:
                mine = [e for e in envelopes if e.type in handling.types]
                if mine:
                    await handling.apply(mine, uow)

        return BatchHandling(frozenset().union(*(h.types for h in handlings)), apply)


class InboxProcessor:
    """`handle_batch` applies every new message of a batch in one transaction.

    Messages already in the inbox are skipped; types without a handler are passed over without
    a write (a topic can carry messages meant for other consumers). Types of `batch` go to it in
    one call; the others to their handler one by one.
    """

    def __init__(
        self,
        *,
        consumer: str,
        engine: AsyncEngine,
        handlers: Mapping[str, MessageHandler],
        batch: BatchHandling | None = None,
    ) -> None:
        self._consumer = consumer
        self._engine = engine
        DUPLICATES.labels(consumer)  # At zero from the start, not missing until the first one.
        self._handlers = dict(handlers)
        self._batch = batch
        self._types = set(self._handlers) | (batch.types if batch else set())

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        handled = []
        for envelope in envelopes:
            if envelope.type in self._types:
                handled.append(envelope)
            else:
                IGNORED.labels(self._consumer, envelope.type).inc()
        if not handled:
            return
        async with UnitOfWork(self._engine) as uow:
            claimed = await claim_new(uow.connection, self._consumer, [e.id for e in handled])
            fresh: list[Envelope] = []  # In arrival order, each id once.
            in_batch: list[Envelope] = []
            seen: set[str] = set()
            answers = self._batch is not None and self._batch.answers_duplicates
            for envelope in handled:
                if envelope.id in seen:
                    continue  # The same id twice in one batch is applied once.
                seen.add(envelope.id)
                new = envelope.id in claimed
                if new:
                    fresh.append(envelope)
                else:
                    DUPLICATES.labels(self._consumer).inc()
                if self._batch is not None and envelope.type in self._batch.types and (new or answers):
                    in_batch.append(envelope)
            if self._batch is not None and in_batch:
                await self._apply_batch(self._batch, in_batch, uow)
            for envelope in fresh:
                handler = self._handlers.get(envelope.type)
                if handler is not None:
                    await self._apply_one(handler, envelope, uow)
            await uow.commit()

    async def _apply_batch(self, batch: BatchHandling, envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
        """What the batch publishes about a payment continues the trace of the event it consumed
        about that payment (saga messages are keyed by payment id)."""
        if not tracing_enabled():
            await batch.apply(envelopes, uow)
            return
        start = uow.message_count
        with event_spans(self._consumer, envelopes) as traceparent_of_key:
            with batch_trace(f"{self._consumer} batch", [e.traceparent for e in envelopes]):
                await batch.apply(envelopes, uow)
            uow.continue_traces(lambda message: traceparent_of_key.get(message.key), start=start)

    async def _apply_one(self, handler: MessageHandler, envelope: Envelope, uow: UnitOfWork) -> None:
        if not tracing_enabled():
            await handler(envelope, uow)
            return
        start = uow.message_count
        with continue_trace(f"{self._consumer} {envelope.type}", envelope.traceparent):
            await handler(envelope, uow)
            traceparent = current_traceparent()
        uow.continue_traces(lambda _: traceparent, start=start)
