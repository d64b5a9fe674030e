"""Each payment keeps the trace it was accepted in, so a step the saga timer re-sends, perhaps
minutes later and from a timer that serves every payment, joins that payment's trace."""

from __future__ import annotations

import uuid

from ledgerline.core.db import UnitOfWork
from ledgerline.payment import repository


class TraceKeepingUnitOfWork(UnitOfWork):
    """Before it commits, stores with every payment a message is published about (saga messages
    are keyed by payment id) the trace that message carries, unless the payment has one. With
    tracing off no message carries a trace and nothing more is written."""

    async def commit(self) -> None:
        traces: dict[uuid.UUID, str] = {}
        for message in self.pending_messages:
            if message.key and message.traceparent:
                traces.setdefault(uuid.UUID(message.key), message.traceparent)
        await repository.remember_traces(self.connection, traces)
        await super().commit()
