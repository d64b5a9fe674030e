"""Database engine and the unit of work: one transaction for a change and its outbox rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self

import orjson
from sqlalchemy import ColumnElement, Executable, any_, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ledgerline.core.events import OutgoingMessage
from ledgerline.core.outbox import OUTBOX_CHANNEL, outbox_rows, outbox_table


def async_database_url(url: str) -> str:
    """Accept the plain `postgresql://` URIs that CloudNativePG puts in its Secrets."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def one_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY($1)` with the values as one array parameter.

    The statement text is the same for any number of values, so it is compiled and prepared
    once; `IN (...)` renders a placeholder per value, and every new count is parsed and planned
    again (a batch consumer sees a different count almost every time).
    """
    return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))


def create_engine(url: str, *, pool_size: int, pool_timeout_s: float, pre_ping: bool = False) -> AsyncEngine:
    # Without pre-ping a checkout costs no round trip; a connection that died with its server
    # fails once, which invalidates the whole pool, and the caller's retry (a consumer's
    # transient wait, a client's retry after 503) gets a fresh one.
    return create_async_engine(
        async_database_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout_s,
        pool_pre_ping=pre_ping,
        isolation_level="READ COMMITTED",
        # JSONB columns (outbox events, stored responses, saga data) through orjson.
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class ConcurrentUpdate(Exception):
    """Rows a set-based write had to change were not there as read: changed by a writer that did
    not hold their lock, or gone. The transaction fails whole and is retried like any failed batch."""


async def write_every_row(
    connection: AsyncConnection, statement: Executable, parameters: Mapping[str, Any], *, rows: int, what: str
) -> None:
    """Run a set-based write whose RETURNING gives one row per row written; a row that was not
    (changed without its lock, or missing) fails the whole transaction loudly."""
    written = len((await connection.execute(statement, parameters)).all())
    if written != rows:
        raise ConcurrentUpdate(f"{rows - written} of {rows} {what} were not written: changed concurrently or missing")


class UnitOfWork:
    """`async with UnitOfWork(engine) as uow:` ... `await uow.commit()`.

    Messages added with `publish` are written to the outbox inside the same transaction, so a
    state change and the event announcing it commit together or not at all. Leaving the block
    without `commit` rolls back.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._messages: list[OutgoingMessage] = []
        self._after_commit: list[Callable[[], None]] = []
        self.committed = False

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its `async with` block")
        return self._connection

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        await self._connection.begin()
        self._messages = []
        self._after_commit = []
        self.committed = False
        return self

    def publish(self, *messages: OutgoingMessage) -> None:
        self._messages.extend(messages)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (metrics that must not count a
        change that rolled back); never run on rollback."""
        self._after_commit.append(callback)

    @property
    def pending_messages(self) -> tuple[OutgoingMessage, ...]:
        return tuple(self._messages)

    @property
    def message_count(self) -> int:
        return len(self._messages)

    def continue_traces(self, trace_of: Callable[[OutgoingMessage], str | None], *, start: int = 0) -> None:
        """Messages published from the `start`-th on carry the trace `trace_of` gives them (if any)."""
        for index in range(start, len(self._messages)):
            message = self._messages[index]
            traceparent = trace_of(message)
            if traceparent:
                self._messages[index] = dataclasses.replace(message, traceparent=traceparent)

    async def commit(self) -> None:
        connection = self.connection
        if self._messages:
            # A saga step re-sent while the broker is down has the id of the send still waiting
            # in the outbox: it is the same message, which will go out once, so it is not added
            # again (a unique violation here used to fail the whole saga timer until the relay
            # caught up, holding back every other payment's step).
            insert_new = postgresql.insert(outbox_table).on_conflict_do_nothing(index_elements=["event_id"])
            await connection.execute(insert_new, outbox_rows(self._messages))
            # NOTIFY is delivered at commit, waking the relay without polling latency.
            await connection.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        await connection.commit()
        self.committed = True
        self._messages = []
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not self.committed:
                await connection.rollback()
        finally:
            await connection.close()
