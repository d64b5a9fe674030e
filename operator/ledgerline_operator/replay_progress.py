"""A replay's progress and its round trip through the DeadLetterReplay status.

Besides the fields the CRD declares, the status carries `replayCheckpoint`: the end offsets of
every target topic at the last saved checkpoint. Anything this replay published after that
checkpoint sits at or above those offsets, which is where a resumed replay looks for records
it already published. It is a top-level status field because `status` preserves unknown
fields at its own level only; inside `partitions[]` the API server would prune it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerline_operator.conditions import now_rfc3339, set_condition

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED})
COMPLETE = "Complete"
CHECKPOINT_FIELD = "replayCheckpoint"


@dataclass(slots=True)
class PartitionProgress:
    partition: int
    start_offset: int
    end_offset: int
    next_offset: int

    @property
    def done(self) -> bool:
        return self.next_offset >= self.end_offset


@dataclass(slots=True)
class Counts:
    scanned: int = 0
    matched: int = 0
    replayed: int = 0
    skipped: int = 0


@dataclass(slots=True)
class ReplayProgress:
    phase: str = PENDING
    partitions: dict[int, PartitionProgress] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)
    # {target topic: {partition: end offset at the last checkpoint}}
    targets: dict[str, dict[int, int]] = field(default_factory=dict)
    started_at: str | None = None
    completed_at: str | None = None
    message: str = ""
    reason: str = ""
    conditions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def finish(self, phase: str, reason: str, message: str) -> None:
        self.phase, self.reason, self.message = phase, reason, message
        self.completed_at = now_rfc3339()

    def to_status(self, generation: int | None = None) -> dict[str, Any]:
        self.conditions = set_condition(
            self.conditions,
            type_=COMPLETE,
            status=self.phase == SUCCEEDED,
            reason=self.reason or self.phase,
            message=self.message or self.phase,
            generation=generation,
        )
        status: dict[str, Any] = {
            "phase": self.phase,
            "counts": {
                "scanned": self.counts.scanned,
                "matched": self.counts.matched,
                "replayed": self.counts.replayed,
                "skipped": self.counts.skipped,
            },
            "partitions": [_partition_status(p) for _, p in sorted(self.partitions.items())],
            "conditions": self.conditions,
            "message": self.message,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            CHECKPOINT_FIELD: {
                "targets": [
                    {"topic": topic, "partition": partition, "offset": offset}
                    for topic, offsets in sorted(self.targets.items())
                    for partition, offset in sorted(offsets.items())
                ]
            },
        }
        if generation is not None:
            status["observedGeneration"] = generation
        # Unset times are left out rather than sent as null, which would not be a date-time.
        return {key: value for key, value in status.items() if value is not None}


def _partition_status(p: PartitionProgress) -> dict[str, int]:
    return {
        "partition": p.partition,
        "startOffset": p.start_offset,
        "endOffset": p.end_offset,
        "nextOffset": p.next_offset,
    }


def progress_from_status(status: Mapping[str, Any] | None) -> ReplayProgress:
    """The progress a stored status describes; a fresh Pending one when nothing was stored."""
    if not status or not status.get("phase"):
        return ReplayProgress()
    counts = status.get("counts") or {}
    targets: dict[str, dict[int, int]] = {}
    for entry in (status.get(CHECKPOINT_FIELD) or {}).get("targets") or []:
        targets.setdefault(str(entry["topic"]), {})[int(entry["partition"])] = int(entry["offset"])
    return ReplayProgress(
        phase=str(status["phase"]),
        partitions={
            int(p["partition"]): PartitionProgress(
                int(p["partition"]), int(p["startOffset"]), int(p["endOffset"]), int(p["nextOffset"])
            )
            for p in status.get("partitions") or []
        },
        counts=Counts(**{k: int(counts.get(k, 0)) for k in ("scanned", "matched", "replayed", "skipped")}),
        targets=targets,
        started_at=status.get("startedAt"),
        completed_at=status.get("completedAt"),
        message=str(status.get("message") or ""),
        conditions=[dict(c) for c in status.get("conditions") or []],
    )
