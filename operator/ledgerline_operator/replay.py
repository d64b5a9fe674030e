"""Running a DeadLetterReplay: scan the source DLQ up to the end offsets captured at the start,
republish each selected dead letter to its original topic, and report progress as status.

Progress is saved through `report` at checkpoints (every `CHECKPOINT_EVERY_RECORDS` scanned
records or `CHECKPOINT_INTERVAL_S`); every send is acknowledged before a checkpoint names the
offsets past it. A crash between a send and the next checkpoint leaves records on a target
topic that the saved nextOffset does not cover, so a resumed replay first reads each target
topic from the end offsets saved with that checkpoint and collects the `ledgerline_replayed_from`
values this replay wrote; those dead letters count as replayed and are not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from ledgerline_operator.conditions import now_rfc3339
from ledgerline_operator.pacing import RateLimiter
from ledgerline_operator.replay_kafka import ReplayKafka
from ledgerline_operator.replay_progress import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    PartitionProgress,
    ReplayProgress,
    progress_from_status,
)
from ledgerline_operator.replay_spec import (
    REPLAY_ID_HEADER,
    REPLAYED_FROM_HEADER,
    DeadLetter,
    InvalidReplay,
    ReplaySpec,
    matches,
    parse_replay_spec,
    replay_headers,
    replayed_from,
)

CHECKPOINT_EVERY_RECORDS = 200
CHECKPOINT_INTERVAL_S = 2.0
# A resumed replay reads at most this many target-topic records looking for its own sends;
# beyond it the replay fails rather than risk sending a dead letter twice.
RESUME_SCAN_RECORDS_MAX = 200_000

Report = Callable[[dict[str, Any]], Awaitable[None]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


async def run_replay(
    bootstrap_servers: str,
    *,
    replay_id: str,
    spec: Mapping[str, Any],
    status: Mapping[str, Any] | None,
    report: Report,
    generation: int | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Any]:
    """Runs (or resumes, from `status`) one replay to Succeeded or Failed; returns the final status.

    Raises `BrokerUnavailable` when Kafka cannot be used; the last reported status is then the
    point to resume from. A finished replay is returned untouched.
    """
    progress = progress_from_status(status)
    if progress.finished:
        return progress.to_status(generation)
    try:
        parsed = parse_replay_spec(spec)
    except InvalidReplay as exc:
        progress.finish(FAILED, "InvalidSpec", str(exc))
        final = progress.to_status(generation)
        await report(final)
        return final
    client_id = f"ledgerline-replay-{replay_id}"
    async with ReplayKafka(bootstrap_servers, client_id, produce=not parsed.dry_run) as kafka:
        replayer = _Replayer(kafka, parsed, progress, replay_id, report, generation, clock, sleep)
        return await replayer.run()


class _Replayer:
    def __init__(
        self,
        kafka: ReplayKafka,
        spec: ReplaySpec,
        progress: ReplayProgress,
        replay_id: str,
        report: Report,
        generation: int | None,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self.kafka, self.spec, self.progress, self.replay_id = kafka, spec, progress, replay_id
        self.report, self.generation, self.clock, self.sleep = report, generation, clock, sleep
        self.limiter = RateLimiter(spec.rate_per_second)
        self.targets_exist: dict[str, bool] = {}
        self.already_sent: set[str] = set()
        self.since_checkpoint = 0
        self.last_checkpoint = clock()

    async def run(self) -> dict[str, Any]:
        if self.progress.phase == RUNNING:
            sent = await self._find_already_sent()
            if sent is None:
                return await self._end(FAILED, "ResumeScanTooLarge", self._too_large_message())
            self.already_sent = sent
        elif not await self._start():
            return await self._end(FAILED, "SourceTopicNotFound", f"topic {self.spec.source_topic} does not exist")
        stopped_early = await self._scan()
        return await self._end(SUCCEEDED, *self._outcome(stopped_early))

    async def _start(self) -> bool:
        count = await self.kafka.partition_count(self.spec.source_topic)
        if count is None:
            return False
        begin, end = await self.kafka.offsets(self.spec.source_topic, count)
        self.progress.partitions = {p: PartitionProgress(p, begin[p], end[p], begin[p]) for p in range(count)}
        self.progress.phase = RUNNING
        self.progress.reason, self.progress.message = "Replaying", "replaying dead letters"
        self.progress.started_at = now_rfc3339()
        # The end offsets are saved before anything is sent, so a resume never chases new letters.
        await self._checkpoint()
        return True

    async def _scan(self) -> bool:
        """Handles every record up to the captured ends; True if maxMessages stopped it first."""
        source = self.spec.source_topic
        ranges = {
            TopicPartition(source, p.partition): (p.next_offset, p.end_offset)
            for p in self.progress.partitions.values()
            if not p.done
        }
        async with contextlib.aclosing(self.kafka.read(ranges)) as batches:
            async for records in batches:
                for record in records:
                    if await self._handled_up_to_limit(record):
                        return True
        for partition in self.progress.partitions.values():
            partition.next_offset = max(partition.next_offset, partition.end_offset)
        return False

    async def _handled_up_to_limit(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Handles one record and moves the partition past it; True once maxMessages is reached."""
        await self._handle(record)
        self.progress.partitions[record.partition].next_offset = record.offset + 1
        self.since_checkpoint += 1
        if self._limit_reached():
            return True
        if self._checkpoint_due():
            await self._checkpoint()
        return False

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        letter = DeadLetter(
            record.partition, record.offset, record.key, record.value, tuple(record.headers or ()), record.timestamp
        )
        selected = matches(self.spec.filters, letter)
        target = letter.original_topic
        # Checked before counting: it may save a checkpoint, which must not count this record yet.
        replayable = selected and target is not None and await self._target_ready(target)
        counts = self.progress.counts
        counts.scanned += 1
        counts.matched += selected
        if not selected or target is None or not replayable:
            counts.skipped += selected
            return
        if self.spec.dry_run:
            return
        if replayed_from(self.spec.source_topic, letter.partition, letter.offset) not in self.already_sent:
            wait_s = self.limiter.reserve(self.clock())
            if wait_s > 0:
                await self.sleep(wait_s)
            headers = replay_headers(letter, replay_id=self.replay_id, source_topic=self.spec.source_topic)
            await self.kafka.send(target, key=letter.key, value=letter.value, headers=headers)
        counts.replayed += 1

    async def _target_ready(self, topic: str) -> bool:
        """Whether `topic` exists; before the first send to it, its end offsets are saved."""
        if topic not in self.targets_exist:
            self.targets_exist[topic] = await self.kafka.partition_count(topic) is not None
            if self.targets_exist[topic] and not self.spec.dry_run and topic not in self.progress.targets:
                self.progress.targets[topic] = {}
                await self._checkpoint()
        return self.targets_exist[topic]

    def _limit_reached(self) -> bool:
        selected = self.progress.counts.matched - self.progress.counts.skipped
        return self.spec.max_messages is not None and selected >= self.spec.max_messages

    def _checkpoint_due(self) -> bool:
        return (
            self.since_checkpoint >= CHECKPOINT_EVERY_RECORDS
            or self.clock() - self.last_checkpoint >= CHECKPOINT_INTERVAL_S
        )

    async def _checkpoint(self) -> dict[str, Any]:
        """Waits for every send, records where later sends to each target will land, then
        reports the status."""
        acknowledged = await self.kafka.flush()
        for topic in list(self.progress.targets):
            floor = await self.kafka.end_offsets_floor(topic) or {}
            self.progress.targets[topic] = {
                p: max(end, acknowledged.get(TopicPartition(topic, p), 0)) for p, end in floor.items()
            }
        self.since_checkpoint, self.last_checkpoint = 0, self.clock()
        status = self.progress.to_status(self.generation)
        await self.report(status)
        return status

    async def _find_already_sent(self) -> set[str] | None:
        """The dead letters this replay sent after its last checkpoint; None if too many to read."""
        ranges: dict[TopicPartition, tuple[int, int | None]] = {}
        backlog = 0
        for topic, saved in self.progress.targets.items():
            for partition, end in (await self.kafka.end_offsets_floor(topic) or {}).items():
                ranges[TopicPartition(topic, partition)] = (saved.get(partition, 0), None)
                backlog += max(0, end - saved.get(partition, 0))
        if backlog > RESUME_SCAN_RECORDS_MAX:
            return None
        sent: set[str] = set()
        read = 0
        async with contextlib.aclosing(self.kafka.read(ranges)) as batches:
            async for records in batches:
                read += len(records)
                if read > RESUME_SCAN_RECORDS_MAX:
                    return None
                for record in records:
                    headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers or ()}
                    if headers.get(REPLAY_ID_HEADER) == self.replay_id and REPLAYED_FROM_HEADER in headers:
                        sent.add(headers[REPLAYED_FROM_HEADER])
        return sent

    def _too_large_message(self) -> str:
        return (
            f"more than {RESUME_SCAN_RECORDS_MAX} records arrived on the target topics since the last checkpoint; "
            "refusing to resume because sends after that checkpoint cannot be verified"
        )

    def _outcome(self, stopped_early: bool) -> tuple[str, str]:
        counts = self.progress.counts
        selected = counts.matched - counts.skipped
        skipped = f", {counts.skipped} skipped (original topic unknown or gone)" if counts.skipped else ""
        if self.spec.dry_run:
            reason, message = "DryRun", f"dry run: {selected} of {counts.scanned} dead letters would be replayed"
        else:
            reason, message = "Replayed", f"replayed {counts.replayed} of {counts.scanned} dead letters"
        if stopped_early:
            reason, message = "MaxMessagesReached", f"{message}; stopped at maxMessages={self.spec.max_messages}"
        return reason, message + skipped

    async def _end(self, phase: str, reason: str, message: str) -> dict[str, Any]:
        await self.kafka.flush()
        self.progress.finish(phase, reason, message)
        return await self._checkpoint()
