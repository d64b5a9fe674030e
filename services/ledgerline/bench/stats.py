"""Latency and throughput figures from raw samples. Pure functions over numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

PERCENTILES = (50, 95, 99)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = sorted(s * 1000 for s in seconds)
        return cls(
            len(ms),
            round(percentile(ms, 50), 2),
            round(percentile(ms, 95), 2),
            round(percentile(ms, 99), 2),
            round(ms[-1], 2) if ms else 0.0,
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SagaTiming:
    """One payment as its own transition history tells it (server clock)."""

    status: str
    initiated_at: datetime
    finished_at: datetime | None

    @property
    def latency_s(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.initiated_at).total_seconds()


def completed_per_s(timings: Sequence[SagaTiming]) -> float:
    """Completed payments over the time from the first payment's start to the last completion."""
    done = [t for t in timings if t.status == "COMPLETED" and t.finished_at is not None]
    if not done:
        return 0.0
    first = min(t.initiated_at for t in timings)
    last = max(t.finished_at for t in done if t.finished_at is not None)
    span_s = (last - first).total_seconds()
    return round(len(done) / span_s, 1) if span_s > 0 else 0.0


def saga_latency(timings: Sequence[SagaTiming]) -> Latency:
    return Latency.of([t.latency_s for t in timings if t.status == "COMPLETED" and t.latency_s is not None])
