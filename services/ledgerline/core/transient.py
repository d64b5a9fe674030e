"""Failures that say "try again later", not "this request or message is bad"."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError

# SQLSTATE classes that say "try again later", not "this message is bad": connection exceptions,
# transaction rollbacks (deadlock, serialization), insufficient resources, operator intervention.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57P")


def is_transient(error: BaseException) -> bool:
    """An infrastructure hiccup (database, Redis or broker unreachable, deadlock): waiting helps."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError, ConnectionError, KafkaConnectionError)):
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES):
            return True
        if getattr(current, "connection_invalidated", False):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False
