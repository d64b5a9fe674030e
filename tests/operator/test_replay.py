"""A dead-letter replay against a real broker republishes exactly the selected dead letters, once
each, to their original topics with replay headers; it does not chase letters that arrive during
the run, resumes after a stop or a crash without sending anything twice, counts without sending
in a dry run, and ends Failed with nothing sent when its spec or source topic is bad."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgerline_operator import replay as replay_module
from ledgerline_operator.conditions import find_condition
from ledgerline_operator.replay import run_replay
from ledgerline_operator.replay_spec import REPLAY_ID_HEADER, REPLAYED_FROM_HEADER
from tests.operator.conftest import (
    Letter,
    StatusLog,
    delete_topic,
    dlq_of,
    header,
    read_topic,
    topic_names,
    write_dead_letters,
)

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def ce_ids(records: list[Any]) -> Counter[str]:
    return Counter(header(r, "ce_id") or "" for r in records)


async def replay(
    bootstrap: str, spec: dict[str, Any], *, status: Any = None, **kwargs: Any
) -> tuple[dict[str, Any], StatusLog]:
    log = StatusLog()
    final = await run_replay(
        bootstrap, replay_id=kwargs.pop("replay_id", str(uuid.uuid4())), spec=spec, status=status, report=log, **kwargs
    )
    return final, log


async def test_replays_exactly_the_matching_letters_once_with_replay_headers(bootstrap: str, topic_name: str) -> None:
    other = topic_name.replace(".v1", ".other.v1")
    dlq = dlq_of(topic_name)
    wanted = [Letter(f"pay-{i}", topic_name, "TimeoutError: bank", T0 + timedelta(minutes=i)) for i in range(6)]
    unwanted = [
        Letter("pay-x", topic_name, "ValueError: bad amount", T0 + timedelta(minutes=1)),  # Other error.
        Letter("pay-y", topic_name, "TimeoutError: bank", T0 - timedelta(minutes=1)),  # Before since.
        Letter("pay-z", topic_name, "TimeoutError: bank", T0 + timedelta(hours=1)),  # At until: excluded.
        Letter("pay-o", other, "TimeoutError: bank", T0 + timedelta(minutes=2)),  # Other original topic.
    ]
    await write_dead_letters(bootstrap, dlq, wanted[:3] + unwanted + wanted[3:], partitions=3)
    filters = {"since": "2026-01-15T10:00:00Z", "until": "2026-01-15T11:00:00Z", "errorContains": "Timeout",
               "originalTopic": topic_name}  # fmt: skip
    replay_id = str(uuid.uuid4())

    final, log = await replay(bootstrap, {"sourceTopic": dlq, "filters": filters}, replay_id=replay_id)

    replayed = await read_topic(bootstrap, topic_name)
    assert ce_ids(replayed) == Counter(letter.ce_id for letter in wanted)
    assert await read_topic(bootstrap, other) == []
    dead = {header(r, "ce_id"): r for r in await read_topic(bootstrap, dlq)}
    for record in replayed:
        source = dead[header(record, "ce_id")]
        assert (record.key, record.value) == (source.key, source.value)
        assert header(record, REPLAY_ID_HEADER) == replay_id
        assert header(record, REPLAYED_FROM_HEADER) == f"{dlq}:{source.partition}:{source.offset}"
        assert header(record, "ce_type") == "io.ledgerline.test.happened"
        assert not [name for name, _ in record.headers if name.startswith("dlq_")]
    assert final["phase"] == "Succeeded"
    assert final["counts"] == {"scanned": 10, "matched": 6, "replayed": 6, "skipped": 0}
    assert sum(p["endOffset"] - p["startOffset"] for p in final["partitions"]) == 10
    assert all(p["nextOffset"] == p["endOffset"] for p in final["partitions"])
    assert log.statuses[0]["phase"] == "Running" and log.last == final
    complete = find_condition(final["conditions"], "Complete")
    assert complete is not None and complete["status"] == "True" and complete["reason"] == "Replayed"


async def test_key_filter_selects_one_payment(bootstrap: str, topic_name: str) -> None:
    letters = [Letter(f"pay-{i % 3}", topic_name) for i in range(9)]
    await write_dead_letters(bootstrap, dlq_of(topic_name), letters)
    final, _ = await replay(bootstrap, {"sourceTopic": dlq_of(topic_name), "filters": {"key": "pay-1"}})
    replayed = await read_topic(bootstrap, topic_name)
    assert {r.key for r in replayed} == {b"pay-1"} and len(replayed) == 3
    assert final["counts"]["matched"] == final["counts"]["replayed"] == 3


async def test_letters_arriving_during_the_replay_are_not_chased(bootstrap: str, topic_name: str) -> None:
    dlq = dlq_of(topic_name)
    first = [Letter(f"early-{i}", topic_name) for i in range(4)]
    late = [Letter(f"late-{i}", topic_name) for i in range(3)]
    await write_dead_letters(bootstrap, dlq, first)

    class WriteLateLetters(StatusLog):
        async def __call__(self, status: dict[str, Any]) -> None:
            await super().__call__(status)
            if len(self.statuses) == 1:  # The end offsets are saved; now more letters arrive.
                await write_dead_letters(bootstrap, dlq, late)

    log = WriteLateLetters()
    final = await run_replay(bootstrap, replay_id="late", spec={"sourceTopic": dlq}, status=None, report=log)
    assert ce_ids(await read_topic(bootstrap, topic_name)) == Counter(letter.ce_id for letter in first)
    assert final["counts"]["scanned"] == 4
    assert len(await read_topic(bootstrap, dlq)) == 7


async def test_letters_sharing_one_record_batch_are_all_replayed(bootstrap: str, topic_name: str) -> None:
    """tansu's ListOffsets stops at the last batch's first record; the captured ends must not."""
    letters = [Letter(f"p{i}", topic_name) for i in range(12)]
    await write_dead_letters(bootstrap, dlq_of(topic_name), letters, batched=True)
    final, _ = await replay(bootstrap, {"sourceTopic": dlq_of(topic_name)})
    assert final["partitions"][0]["endOffset"] == 12
    assert ce_ids(await read_topic(bootstrap, topic_name)) == Counter(letter.ce_id for letter in letters)


async def test_dry_run_counts_and_sends_nothing(bootstrap: str, topic_name: str) -> None:
    letters = [Letter(f"pay-{i}", topic_name, "TimeoutError" if i % 2 else "KeyError") for i in range(8)]
    await write_dead_letters(bootstrap, dlq_of(topic_name), letters)
    spec = {"sourceTopic": dlq_of(topic_name), "filters": {"errorContains": "Timeout"}, "dryRun": True}
    final, _ = await replay(bootstrap, spec)
    assert await read_topic(bootstrap, topic_name) == []
    assert final["phase"] == "Succeeded"
    assert final["counts"] == {"scanned": 8, "matched": 4, "replayed": 0, "skipped": 0}
    assert final["message"] == "dry run: 4 of 8 dead letters would be replayed"


async def test_max_messages_stops_the_replay(bootstrap: str, topic_name: str) -> None:
    await write_dead_letters(bootstrap, dlq_of(topic_name), [Letter(f"p{i}", topic_name) for i in range(10)])
    final, _ = await replay(bootstrap, {"sourceTopic": dlq_of(topic_name), "maxMessages": 4})
    assert len(await read_topic(bootstrap, topic_name)) == 4
    assert final["phase"] == "Succeeded" and final["counts"]["replayed"] == 4
    assert final["partitions"][0]["nextOffset"] == 4 < final["partitions"][0]["endOffset"]
    complete = find_condition(final["conditions"], "Complete")
    assert complete is not None and complete["reason"] == "MaxMessagesReached"


async def test_letters_whose_original_topic_is_gone_are_skipped(bootstrap: str, topic_name: str) -> None:
    gone = topic_name.replace(".v1", ".gone.v1")
    await write_dead_letters(bootstrap, dlq_of(topic_name), [Letter("a", topic_name), Letter("b", topic_name)])
    await write_dead_letters(bootstrap, dlq_of(topic_name), [Letter("c", gone)])
    await delete_topic(bootstrap, gone)
    final, _ = await replay(bootstrap, {"sourceTopic": dlq_of(topic_name)})
    assert final["counts"] == {"scanned": 3, "matched": 3, "replayed": 2, "skipped": 1}
    assert gone not in await topic_names(bootstrap)  # Looking it up did not re-create it.


class Gate:
    """A `sleep` for the replay that lets `open_for` paced sends through, then blocks for good."""

    def __init__(self, open_for: int) -> None:
        self.left = open_for
        self.blocked = asyncio.Event()
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.left == 0:
            self.blocked.set()
            await asyncio.Event().wait()
        self.left -= 1


def still_clock() -> float:
    """Time stands still, so the limiter asks for a wait before every send after the first."""
    return 0.0


async def test_a_stopped_replay_resumes_from_its_saved_status_without_duplicates(
    bootstrap: str, topic_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "CHECKPOINT_EVERY_RECORDS", 5)
    letters = [Letter(f"p{i}", topic_name) for i in range(30)]
    await write_dead_letters(bootstrap, dlq_of(topic_name), letters)
    spec, replay_id, log, gate = {"sourceTopic": dlq_of(topic_name)}, str(uuid.uuid4()), StatusLog(), Gate(12)

    task = asyncio.create_task(
        run_replay(
            bootstrap, replay_id=replay_id, spec=spec, status=None, report=log, clock=still_clock, sleep=gate.sleep
        )
    )
    await asyncio.wait_for(gate.blocked.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    saved = log.last
    assert saved["phase"] == "Running" and 0 < saved["counts"]["replayed"] < 30
    assert 0 < saved["partitions"][0]["nextOffset"] < 30

    final, _ = await replay(bootstrap, spec, status=saved, replay_id=replay_id)
    assert ce_ids(await read_topic(bootstrap, topic_name)) == Counter(letter.ce_id for letter in letters)
    assert final["phase"] == "Succeeded" and final["counts"]["replayed"] == 30 and final["counts"]["scanned"] == 30


@pytest.mark.parametrize("saves_before_crash", [2, 3])
async def test_a_crash_between_publishing_and_saving_progress_sends_nothing_twice(
    bootstrap: str, topic_name: str, monkeypatch: pytest.MonkeyPatch, saves_before_crash: int
) -> None:
    """Saves: the start, the first target's offsets, then one per 4 records; the next one fails."""
    monkeypatch.setattr(replay_module, "CHECKPOINT_EVERY_RECORDS", 4)
    letters = [Letter(f"p{i}", topic_name) for i in range(20)]
    await write_dead_letters(bootstrap, dlq_of(topic_name), letters)
    spec, replay_id = {"sourceTopic": dlq_of(topic_name)}, str(uuid.uuid4())

    class CrashWhileSaving(StatusLog):
        async def __call__(self, status: dict[str, Any]) -> None:
            if len(self.statuses) == saves_before_crash:  # Sends are acknowledged; the save never happens.
                raise RuntimeError("operator killed")
            await super().__call__(status)

    log = CrashWhileSaving()
    with pytest.raises(RuntimeError, match="operator killed"):
        await run_replay(
            bootstrap, replay_id=replay_id, spec=spec, status=None, report=log, clock=still_clock, sleep=Gate(99).sleep
        )
    saved = log.last
    published = len(await read_topic(bootstrap, topic_name))
    assert published > saved["counts"]["replayed"]  # The crash window is real: sends not in the status.

    final, _ = await replay(bootstrap, spec, status=saved, replay_id=replay_id)
    assert ce_ids(await read_topic(bootstrap, topic_name)) == Counter(letter.ce_id for letter in letters)
    assert final["counts"] == {"scanned": 20, "matched": 20, "replayed": 20, "skipped": 0}


async def test_a_finished_replay_is_left_alone(bootstrap: str, topic_name: str) -> None:
    await write_dead_letters(bootstrap, dlq_of(topic_name), [Letter("a", topic_name)])
    spec, replay_id = {"sourceTopic": dlq_of(topic_name)}, str(uuid.uuid4())
    final, _ = await replay(bootstrap, spec, replay_id=replay_id)
    again, log = await replay(bootstrap, spec, status=final, replay_id=replay_id)
    assert again["counts"] == final["counts"] and log.statuses == []
    assert len(await read_topic(bootstrap, topic_name)) == 1


async def test_pacing_asks_for_the_waits_the_rate_implies(bootstrap: str, topic_name: str) -> None:
    await write_dead_letters(bootstrap, dlq_of(topic_name), [Letter(f"p{i}", topic_name) for i in range(5)])
    gate = Gate(open_for=100)
    spec = {"sourceTopic": dlq_of(topic_name), "ratePerSecond": 4}
    await replay(bootstrap, spec, clock=still_clock, sleep=gate.sleep)
    assert gate.waits == pytest.approx([0.25, 0.5, 0.75, 1.0])  # The first send goes at once.


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ({"ratePerSecond": 0}, "InvalidSpec", "ratePerSecond must be an integer from 1"),
        ({"maxMessages": -3}, "InvalidSpec", "maxMessages must be an integer from 1"),
        ({"filters": {"partition": 2}}, "InvalidSpec", "unknown filter fields: partition"),
        ({"sourceTopic": "not-a-dead-letter-topic"}, "InvalidSpec", "must name a dead-letter topic"),
        ({"sourceTopic": "ledgerline.nowhere.v1.dlq"}, "SourceTopicNotFound", "does not exist"),
    ],
)
async def test_bad_replays_fail_with_a_reason_and_send_nothing(
    bootstrap: str, topic_name: str, change: dict[str, Any], reason: str, words: str
) -> None:
    await write_dead_letters(bootstrap, dlq_of(topic_name), [Letter("a", topic_name)])
    final, log = await replay(bootstrap, {"sourceTopic": dlq_of(topic_name), **change})
    assert final["phase"] == "Failed" and log.statuses == [final]
    complete = find_condition(final["conditions"], "Complete")
    assert complete is not None and complete["status"] == "False" and complete["reason"] == reason
    assert words in final["message"]
    assert await read_topic(bootstrap, topic_name) == []
    assert "ledgerline.nowhere.v1.dlq" not in await topic_names(bootstrap)
