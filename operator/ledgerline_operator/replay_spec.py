"""What a DeadLetterReplay asks for, and which dead letters it selects: pure values and functions.

The time window (`since` inclusive, `until` exclusive) applies to the `dlq_first_failure_time`
header that the consumers write; a dead letter without a readable header is placed in time by
its record timestamp instead (the moment it was dead-lettered), so letters written by other
tools can still be selected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledgerline.core.dead_letters import (
    DLQ_ATTEMPT_COUNT,
    DLQ_ERROR,
    DLQ_FIRST_FAILURE_TIME,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
)
from ledgerline.core.topics import DEAD_LETTER_SUFFIX

REPLAY_ID_HEADER = "ledgerline_replay_id"
REPLAYED_FROM_HEADER = "ledgerline_replayed_from"
DEAD_LETTER_HEADERS = frozenset(
    {
        DLQ_ORIGINAL_TOPIC,
        DLQ_ORIGINAL_PARTITION,
        DLQ_ORIGINAL_OFFSET,
        DLQ_ERROR,
        DLQ_ATTEMPT_COUNT,
        DLQ_FIRST_FAILURE_TIME,
    }
)
# A letter replayed before and dead-lettered again carries the earlier replay's headers too.
_DROPPED_HEADERS = DEAD_LETTER_HEADERS | {REPLAY_ID_HEADER, REPLAYED_FROM_HEADER}

RATE_PER_SECOND_DEFAULT = 100
RATE_PER_SECOND_MAX = 10_000
MAX_MESSAGES_MAX = 10_000_000
TOPIC_NAME_CHARS_MAX = 249
_FILTER_KEYS = frozenset({"since", "until", "errorContains", "key", "originalTopic"})


class InvalidReplay(ValueError):
    """A spec that cannot be run as written; the replay ends Failed without replaying anything."""


@dataclass(frozen=True, slots=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    error_contains: str | None = None
    key: str | None = None
    original_topic: str | None = None


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    source_topic: str
    filters: Filters
    max_messages: int | None
    rate_per_second: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    def header(self, name: str) -> str | None:
        for header, raw in reversed(self.headers):
            if header == name:
                return raw.decode("utf-8", errors="replace")
        return None

    @property
    def original_topic(self) -> str | None:
        return self.header(DLQ_ORIGINAL_TOPIC) or None

    @property
    def failure_time(self) -> datetime:
        """When the letter first failed: its header, else the record timestamp."""
        recorded = self.header(DLQ_FIRST_FAILURE_TIME)
        if recorded:
            try:
                parsed = datetime.fromisoformat(recorded)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except ValueError:
                pass
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


def parse_replay_spec(spec: Mapping[str, Any]) -> ReplaySpec:
    source = spec.get("sourceTopic")
    if not isinstance(source, str) or not source.endswith(DEAD_LETTER_SUFFIX) or len(source) > TOPIC_NAME_CHARS_MAX:
        raise InvalidReplay(f"sourceTopic must name a dead-letter topic ending in {DEAD_LETTER_SUFFIX}, not {source!r}")
    rate = spec.get("ratePerSecond", RATE_PER_SECOND_DEFAULT)
    if not _is_int(rate) or not 1 <= rate <= RATE_PER_SECOND_MAX:
        raise InvalidReplay(f"ratePerSecond must be an integer from 1 to {RATE_PER_SECOND_MAX}, not {rate!r}")
    max_messages = spec.get("maxMessages")
    if max_messages is not None and (not _is_int(max_messages) or not 1 <= max_messages <= MAX_MESSAGES_MAX):
        raise InvalidReplay(f"maxMessages must be an integer from 1 to {MAX_MESSAGES_MAX}, not {max_messages!r}")
    dry_run = spec.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise InvalidReplay(f"dryRun must be true or false, not {dry_run!r}")
    return ReplaySpec(source, _parse_filters(spec.get("filters") or {}), max_messages, rate, dry_run)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_filters(raw: Mapping[str, Any]) -> Filters:
    unknown = sorted(set(raw) - _FILTER_KEYS)
    if unknown:
        raise InvalidReplay(f"unknown filter fields: {', '.join(unknown)}")
    for name in ("errorContains", "key", "originalTopic"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise InvalidReplay(f"filters.{name} must be a string, not {raw[name]!r}")
    filters = Filters(
        since=_timestamp(raw, "since"),
        until=_timestamp(raw, "until"),
        error_contains=raw.get("errorContains"),
        key=raw.get("key"),
        original_topic=raw.get("originalTopic"),
    )
    if filters.since and filters.until and filters.since >= filters.until:
        raise InvalidReplay("filters.since must be before filters.until")
    return filters


def _timestamp(raw: Mapping[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):  # YAML loaders turn unquoted timestamps into datetimes.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidReplay(f"filters.{name} is not an RFC 3339 date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def matches(filters: Filters, letter: DeadLetter) -> bool:
    """True when every given filter holds for the letter (no filters: every letter matches)."""
    if filters.since is not None or filters.until is not None:
        when = letter.failure_time
        if filters.since is not None and when < filters.since:
            return False
        if filters.until is not None and when >= filters.until:
            return False
    if filters.error_contains is not None and filters.error_contains not in (letter.header(DLQ_ERROR) or ""):
        return False
    if filters.key is not None and (letter.key is None or letter.key.decode("utf-8", "replace") != filters.key):
        return False
    return filters.original_topic is None or letter.original_topic == filters.original_topic


def replayed_from(source_topic: str, partition: int, offset: int) -> str:
    return f"{source_topic}:{partition}:{offset}"


def replay_headers(letter: DeadLetter, *, replay_id: str, source_topic: str) -> list[tuple[str, bytes]]:
    """The letter's own headers (CloudEvents, traceparent) without the dead-letter ones, plus
    two naming this replay and the exact record replayed."""
    kept: Sequence[tuple[str, bytes]] = [(k, v) for k, v in letter.headers if k not in _DROPPED_HEADERS]
    origin = replayed_from(source_topic, letter.partition, letter.offset)
    return [*kept, (REPLAY_ID_HEADER, replay_id.encode()), (REPLAYED_FROM_HEADER, origin.encode())]
