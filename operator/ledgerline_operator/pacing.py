"""Pacing replayed messages to a rate: each send gets a slot 1/rate seconds after the previous one.

Pure arithmetic on a clock value the caller passes, so the waits can be checked without sleeping.
"""

from __future__ import annotations


class RateLimiter:
    """No bursts: an idle limiter lets the next send go at once, then spaces sends evenly."""

    def __init__(self, rate_per_second: int) -> None:
        if rate_per_second < 1:
            raise ValueError(f"rate_per_second must be at least 1, not {rate_per_second}")
        self.interval_s = 1.0 / rate_per_second
        self._next_slot: float | None = None

    def reserve(self, now: float) -> float:
        """Books the next slot and returns how long to wait for it from `now` (0 if it is due)."""
        if self._next_slot is None or self._next_slot < now:
            self._next_slot = now
        wait_s = self._next_slot - now
        self._next_slot += self.interval_s
        return wait_s
