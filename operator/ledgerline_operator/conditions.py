"""Kubernetes-style status conditions: one entry per type, with the time its status last changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

# The CRDs cap these fields; longer text is cut rather than rejected by the API server.
REASON_CHARS_MAX = 1024
MESSAGE_CHARS_MAX = 32768


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    *,
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int | None = None,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """The conditions with `type_` replaced; lastTransitionTime moves only when the status changes."""
    status_text = "Unknown" if status is None else str(status)
    previous = next((c for c in conditions or () if c.get("type") == type_), None)
    transition = now or now_rfc3339()
    if previous is not None and previous.get("status") == status_text:
        transition = previous.get("lastTransitionTime") or transition
    condition: dict[str, Any] = {
        "type": type_,
        "status": status_text,
        "reason": reason[:REASON_CHARS_MAX],
        "message": message[:MESSAGE_CHARS_MAX],
        "lastTransitionTime": transition,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [dict(c) for c in conditions or () if c.get("type") != type_]
    return [*others, condition]


def find_condition(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions or () if c.get("type") == type_), None)
