"""Applying a consumed batch: inbox claim, handler per message type, one commit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.inbox import claim_new
from ledgerline.core.telemetry import continue_trace

MessageHandler = Callable[[Envelope, UnitOfWork], Awaitable[None]]
_log = logging.getLogger(__name__)

DUPLICATES = Counter("ledgerline_consumer_duplicates_total", "Redelivered messages skipped by the inbox", ["consumer"])
IGNORED = Counter(
    "ledgerline_consumer_ignored_total",
    "Messages of a type this consumer does not handle",
    ["consumer", "type"],
)


class InboxProcessor:
    """`handle_batch` applies every new message of a batch in one transaction.

    Messages already in the inbox are skipped; types without a handler are passed over without
    a write (a topic can carry messages meant for other consumers).
    """

    def __init__(self, *, consumer: str, engine: AsyncEngine, handlers: Mapping[str, MessageHandler]) -> None:
        self._consumer = consumer
        self._engine = engine
        self._handlers = dict(handlers)

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        handled = []
        for envelope in envelopes:
            if envelope.type in self._handlers:
                handled.append(envelope)
            else:
                IGNORED.labels(self._consumer, envelope.type).inc()
        if not handled:
            return
        async with UnitOfWork(self._engine) as uow:
            fresh = await claim_new(uow.connection, self._consumer, [e.id for e in handled])
            seen: set[str] = set()
            for envelope in handled:
                if envelope.id not in fresh or envelope.id in seen:
                    DUPLICATES.labels(self._consumer).inc()
                    continue
                seen.add(envelope.id)
                handler = self._handlers[envelope.type]
                with continue_trace(f"{self._consumer} {envelope.type}", envelope.traceparent):
                    await handler(envelope, uow)
            await uow.commit()
