"""Sorting Kafka's errors in two: try again later, or the request itself is refused.

`BrokerUnavailable` means Kafka could not be reached or answered with a retriable error; the
kopf layer turns it into `kopf.TemporaryError`. `TopicRejected` means retrying the same request
cannot succeed; it becomes a Ready=False condition and `kopf.PermanentError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiokafka.errors import IncompatibleBrokerVersion, KafkaError, KafkaTimeoutError, for_code

T = TypeVar("T")

# How long connecting to the bootstrap servers may take before Kafka counts as unreachable.
CONNECT_TIMEOUT_S = 15.0


class BrokerUnavailable(Exception):
    """Kafka could not be reached or answered with a retriable error."""


class TopicRejected(Exception):
    """Kafka refused the request; `reason` is a CamelCase word for the Ready condition."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_code(code: int, message: str | None, what: str, *, ignore: Sequence[type[Exception]] = ()) -> None:
    if code == 0:
        return
    error = for_code(code)
    if error in ignore:
        return
    if error.retriable:
        raise BrokerUnavailable(f"{what}: {error.__name__}: {message or ''}".rstrip(": "))
    raise TopicRejected("KafkaRejected", f"{what}: {error.__name__}: {message or error.description}")


async def guarded(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Runs one admin call, translating aiokafka's errors into the two kinds above."""
    try:
        return await call()
    except IncompatibleBrokerVersion as exc:
        raise TopicRejected("UnsupportedByBroker", f"{what}: the broker does not support this request ({exc})") from exc
    except (TimeoutError, KafkaTimeoutError, OSError) as exc:
        raise BrokerUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except KafkaError as exc:
        if exc.retriable:
            raise BrokerUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
        raise TopicRejected("KafkaRejected", f"{what}: {type(exc).__name__}: {exc}") from exc
