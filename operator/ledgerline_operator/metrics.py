"""The operator's Prometheus metrics: topic reconciliations and their errors, the progress and
state of every dead-letter replay, read from the status each replay reports, and the records each
dead-letter topic holds.

A replay's series are labelled `replay="<namespace>/<name>"`; the series of the oldest replays are
dropped beyond `REPLAYS_SHOWN_MAX`, so the operator's own series stay bounded however many replays
a cluster keeps. They live in a registry of their own, which `/metrics` serves with the process's
own metrics: whatever else a process imports (a test imports the services too) is not the
operator's to export.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, GCCollector, PlatformCollector, ProcessCollector

from ledgerline.core.topics import PLATFORM_TOPICS, dead_letter_topic
from ledgerline_operator.replay_progress import FAILED, PENDING, RUNNING, SUCCEEDED

REPLAYS_SHOWN_MAX = 100
# The dead-letter topics of the platform's own topics: their depth is shown from the start, at zero.
PLATFORM_DEAD_LETTER_TOPICS = tuple(dead_letter_topic(t.name) for t in PLATFORM_TOPICS if t.dead_letters)
REPLAY_PHASES = (PENDING, RUNNING, SUCCEEDED, FAILED)
REPLAY_KINDS = ("scanned", "matched", "replayed", "skipped")
# Why a reconciliation did not make a topic ready: Kafka out of reach (retried), or a spec Kafka
# or the operator refuses (not retried until the spec changes).
RECONCILE_ERRORS = ("kafka_unavailable", "rejected")

OPERATOR_REGISTRY = CollectorRegistry()
ProcessCollector(registry=OPERATOR_REGISTRY)
PlatformCollector(registry=OPERATOR_REGISTRY)
GCCollector(registry=OPERATOR_REGISTRY)

TOPICS_RECONCILED = Counter(
    "ledgerline_operator_topics_reconciled_total",
    "LedgerlineTopic reconciliations that left the topics as specified",
    registry=OPERATOR_REGISTRY,
)
RECONCILE_ERRORS_TOTAL = Counter(
    "ledgerline_operator_topic_reconcile_errors_total",
    "LedgerlineTopic reconciliations that failed",
    ["reason"],
    registry=OPERATOR_REGISTRY,
)
for _reason in RECONCILE_ERRORS:
    RECONCILE_ERRORS_TOTAL.labels(_reason)
REPLAY_MESSAGES = Gauge(
    "ledgerline_operator_replay_messages",
    "Dead letters of a replay so far: scanned, matched by the filters, replayed, and skipped",
    ["replay", "kind"],
    registry=OPERATOR_REGISTRY,
)
REPLAY_PROGRESS = Gauge(
    "ledgerline_operator_replay_progress_ratio",
    "Share of the dead letters captured at a replay's start that it has scanned (0 to 1)",
    ["replay"],
    registry=OPERATOR_REGISTRY,
)
REPLAY_PHASE = Gauge(
    "ledgerline_operator_replay_phase",
    "1 for the phase a replay is in, 0 for the others",
    ["replay", "phase"],
    registry=OPERATOR_REGISTRY,
)

DEAD_LETTER_DEPTH = Gauge(
    "ledgerline_operator_dead_letter_depth",
    "Records a dead-letter topic holds: log end minus log start offset, summed over its partitions",
    ["topic"],
    registry=OPERATOR_REGISTRY,
)
for _topic in PLATFORM_DEAD_LETTER_TOPICS:
    DEAD_LETTER_DEPTH.labels(_topic).set(0)


def topic_reconciled() -> None:
    TOPICS_RECONCILED.inc()


def topic_reconcile_failed(reason: str) -> None:
    RECONCILE_ERRORS_TOTAL.labels(reason).inc()


def replay_label(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def scanned_ratio(status: Mapping[str, Any]) -> float:
    """Offsets scanned over offsets to scan, over every source partition; 1 when there are none."""
    partitions = status.get("partitions") or []
    total = sum(int(p["endOffset"]) - int(p["startOffset"]) for p in partitions)
    done = sum(min(int(p["nextOffset"]), int(p["endOffset"])) - int(p["startOffset"]) for p in partitions)
    if total <= 0:
        return 1.0 if status.get("phase") in (SUCCEEDED, FAILED) else 0.0
    return max(0.0, min(1.0, done / total))


class ReplayMetrics:
    """Sets the series of each replay from the status it reports."""

    def __init__(self, shown_max: int = REPLAYS_SHOWN_MAX) -> None:
        self._shown_max = shown_max
        self._shown: OrderedDict[str, None] = OrderedDict()

    def report(self, replay: str, status: Mapping[str, Any]) -> None:
        self._shown[replay] = None
        self._shown.move_to_end(replay)
        counts = status.get("counts") or {}
        for kind in REPLAY_KINDS:
            REPLAY_MESSAGES.labels(replay, kind).set(int(counts.get(kind, 0)))
        REPLAY_PROGRESS.labels(replay).set(scanned_ratio(status))
        for phase in REPLAY_PHASES:
            REPLAY_PHASE.labels(replay, phase).set(1 if status.get("phase") == phase else 0)
        while len(self._shown) > self._shown_max:
            self._forget(self._shown.popitem(last=False)[0])

    def _forget(self, replay: str) -> None:
        for kind in REPLAY_KINDS:
            REPLAY_MESSAGES.remove(replay, kind)
        REPLAY_PROGRESS.remove(replay)
        for phase in REPLAY_PHASES:
            REPLAY_PHASE.remove(replay, phase)


REPLAYS = ReplayMetrics()


class DeadLetterDepths:
    """Sets each measured dead-letter topic's depth and drops the series of one no longer
    measured (deleted); the platform's own are always shown."""

    def __init__(self) -> None:
        self._shown: set[str] = set(PLATFORM_DEAD_LETTER_TOPICS)

    def report(self, depths: Mapping[str, int]) -> None:
        for topic, depth in depths.items():
            DEAD_LETTER_DEPTH.labels(topic).set(depth)
        self._forget(self._shown - set(depths) - set(PLATFORM_DEAD_LETTER_TOPICS))
        self._shown |= set(depths)

    def _forget(self, topics: Iterable[str]) -> None:
        for topic in topics:
            DEAD_LETTER_DEPTH.remove(topic)
            self._shown.discard(topic)


DEPTHS = DeadLetterDepths()
