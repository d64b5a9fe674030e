"""The headers a dead letter carries: where it came from and why it could not be processed.

Pure values shared by the consumers that write dead letters and the operator that replays them.
"""

from __future__ import annotations

from datetime import datetime

DLQ_ORIGINAL_TOPIC = "dlq_original_topic"
DLQ_ORIGINAL_PARTITION = "dlq_original_partition"
DLQ_ORIGINAL_OFFSET = "dlq_original_offset"
DLQ_ERROR = "dlq_error"
DLQ_ATTEMPT_COUNT = "dlq_attempt_count"
DLQ_FIRST_FAILURE_TIME = "dlq_first_failure_time"
DLQ_ERROR_BYTES_MAX = 1024


def dead_letter_headers(
    *, topic: str, partition: int, offset: int, error: str, attempts: int, first_failure: datetime
) -> list[tuple[str, bytes]]:
    return [
        (DLQ_ORIGINAL_TOPIC, topic.encode()),
        (DLQ_ORIGINAL_PARTITION, str(partition).encode()),
        (DLQ_ORIGINAL_OFFSET, str(offset).encode()),
        (DLQ_ERROR, error.encode()[:DLQ_ERROR_BYTES_MAX]),
        (DLQ_ATTEMPT_COUNT, str(attempts).encode()),
        (DLQ_FIRST_FAILURE_TIME, first_failure.isoformat().encode()),
    ]
