"""A batch record carries its events in order and gives each back with its own id, time, key
and trace; a malformed batch is refused, and a batch never exceeds its bound."""

from __future__ import annotations

import pytest

from ledgerline.core.events import (
    BATCH_EVENTS_MAX,
    BATCH_TYPE,
    MalformedMessage,
    OutgoingMessage,
    decode,
    encode,
    encode_batch,
    expand,
)


def _message(n: int) -> OutgoingMessage:
    return OutgoingMessage(
        topic="t", key=f"payment-{n}", type="io.ledgerline.test", source="/tests", data={"n": n}, traceparent=None
    )


def test_events_come_back_one_by_one_in_order() -> None:
    messages = [_message(n) for n in range(5)]
    value, headers = encode_batch(messages)
    record = decode(key=None, value=value, headers=headers, topic="t", partition=3, offset=42)
    assert record.type == BATCH_TYPE
    events = expand(record)
    assert [e.id for e in events] == [m.id for m in messages]
    assert [e.data for e in events] == [{"n": n} for n in range(5)]
    assert [e.key for e in events] == [m.key for m in messages]
    assert [e.time for e in events] == [m.time for m in messages]
    assert all((e.topic, e.partition, e.offset, e.raw_value) == ("t", 3, 42, b"") for e in events)


def test_a_single_event_record_is_itself() -> None:
    key, value, headers = encode(_message(1))
    record = decode(key=key, value=value, headers=headers)
    assert expand(record) == [record]


def test_batches_are_bounded() -> None:
    encode_batch([_message(n) for n in range(BATCH_EVENTS_MAX)])
    with pytest.raises(ValueError, match=r"1\.\.200"):
        encode_batch([_message(n) for n in range(BATCH_EVENTS_MAX + 1)])
    with pytest.raises(ValueError):
        encode_batch([])


def test_a_malformed_batch_is_refused() -> None:
    for data in ({"events": []}, {"events": "x"}, {"events": [{"id": "1"}]}):
        message = OutgoingMessage(topic="t", key="", type=BATCH_TYPE, source="/x", data=data)
        key, value, headers = encode(message)
        with pytest.raises(MalformedMessage):
            expand(decode(key=key, value=value, headers=headers))
