"""CloudEvents 1.0 on Kafka, binary content mode: attributes in `ce_*` headers, JSON body.

`OutgoingMessage` is what a service writes to its outbox; `Envelope` is what a consumer reads.
The W3C `traceparent` header travels beside the CloudEvents headers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

TRACEPARENT_HEADER = "traceparent"


class _OrjsonFormat(JSONFormat):
    """The SDK's JSON format with the event data written and read by orjson: every event of every
    hop goes through here, and the SDK's own encoder is pure Python for its datetime hook."""

    def write_data(self, data: dict[str, Any] | str | bytes | None, datacontenttype: str | None) -> bytes:
        if isinstance(data, dict):
            return orjson.dumps(data)
        return super().write_data(data, datacontenttype)

    def read_data(self, body: bytes, datacontenttype: str | None) -> dict[str, Any] | str | bytes | None:
        try:
            parsed: dict[str, Any] = orjson.loads(body)
        except orjson.JSONDecodeError:
            return super().read_data(body, datacontenttype)  # Text or bytes, as the SDK reads them.
        return parsed


_FORMAT = _OrjsonFormat()
_CONTENT_TYPE = "application/json"
# Headers that are not CloudEvents attributes but must survive a trip through the outbox.
_PASSTHROUGH_HEADERS = (TRACEPARENT_HEADER,)


# Internal saga topics carry many events per Kafka record: one record of this type whose data is
# {"events": [{id, type, source, time, key, traceparent, data}, ...]}, all bound for the same
# partition in the order they were written. Consumers see the events one by one (`expand`), each
# with its own id for the inbox; what the broker and the clients handle per record is paid once.
BATCH_TYPE = "io.ledgerline.batch"
BATCH_SOURCE = "/ledgerline/outbox"
BATCH_EVENTS_MAX = 200


class MalformedMessage(ValueError):
    """A Kafka record that is not a CloudEvent with a JSON object body."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    key: str
    type: str
    source: str
    data: Mapping[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    type: str
    source: str
    time: datetime | None
    data: Mapping[str, Any]
    key: str | None = None
    traceparent: str | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    headers: Mapping[str, bytes] = field(default_factory=dict)
    raw_value: bytes = b""  # The record's value as received, forwarded unchanged on retries.


def encode(message: OutgoingMessage) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of the Kafka record for `message`."""
    event = CloudEvent(
        attributes={
            "id": message.id,
            "type": message.type,
            "source": message.source,
            "time": message.time,
            "datacontenttype": _CONTENT_TYPE,
            "specversion": "1.0",
        },
        data=dict(message.data),
    )
    kafka = to_binary(event, _FORMAT, key_mapper=lambda _: message.key)
    headers = list(kafka.headers.items())
    if message.traceparent:
        headers.append((TRACEPARENT_HEADER, message.traceparent.encode()))
    return message.key.encode(), kafka.value, headers


def encode_batch(messages: Sequence[OutgoingMessage]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Value and headers of one record carrying `messages` in order (see BATCH_TYPE)."""
    if not 1 <= len(messages) <= BATCH_EVENTS_MAX:
        raise ValueError(f"a batch record carries 1..{BATCH_EVENTS_MAX} events, not {len(messages)}")
    events = [
        {
            "id": m.id,
            "type": m.type,
            "source": m.source,
            "time": m.time.isoformat(),
            "key": m.key,
            "traceparent": m.traceparent,
            "data": dict(m.data),
        }
        for m in messages
    ]
    record = OutgoingMessage(messages[0].topic, "", BATCH_TYPE, BATCH_SOURCE, {"events": events})
    _, value, headers = encode(record)
    return value, headers


def expand(envelope: Envelope) -> list[Envelope]:
    """The events a record carries: itself, or each event of a batch record in order."""
    if envelope.type != BATCH_TYPE:
        return [envelope]
    events = envelope.data.get("events")
    if not isinstance(events, list) or not events:
        raise MalformedMessage("batch record without events")
    try:
        return [
            Envelope(
                id=str(event["id"]),
                type=str(event["type"]),
                source=str(event["source"]),
                time=datetime.fromisoformat(event["time"]),
                data=event["data"],
                key=event.get("key"),
                traceparent=event.get("traceparent"),
                topic=envelope.topic,
                partition=envelope.partition,
                offset=envelope.offset,
            )
            for event in events
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"batch record with a malformed event: {exc}") from exc


def as_outgoing(envelope: Envelope) -> OutgoingMessage:
    """An event read from Kafka as a message to send again on its own (a dead letter)."""
    return OutgoingMessage(
        topic=envelope.topic,
        key=envelope.key or "",
        type=envelope.type,
        source=envelope.source,
        data=envelope.data,
        id=envelope.id,
        time=envelope.time or datetime.now(UTC),
        traceparent=envelope.traceparent,
    )


def decode(
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    topic: str = "",
    partition: int = -1,
    offset: int = -1,
) -> Envelope:
    header_map = {name: raw for name, raw in headers}
    if "ce_id" not in header_map or "ce_type" not in header_map:
        raise MalformedMessage("record has no ce_id / ce_type headers")
    try:
        event = from_binary(KafkaMessage(headers=header_map, key=key, value=value or b"{}"), _FORMAT)
    except Exception as exc:  # The SDK raises several unrelated types for bad input.
        raise MalformedMessage(f"not a CloudEvent: {exc}") from exc
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        try:
            data = orjson.loads(data)
        except ValueError as exc:
            raise MalformedMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedMessage("body is not a JSON object")
    time = event.get_time()
    traceparent = header_map.get(TRACEPARENT_HEADER)
    return Envelope(
        id=event.get_id(),
        type=event.get_type(),
        source=event.get_source(),
        time=time if isinstance(time, datetime) else None,
        data=data,
        key=key.decode() if key else None,
        traceparent=traceparent.decode() if traceparent else None,
        topic=topic,
        partition=partition,
        offset=offset,
        headers=header_map,
        raw_value=value or b"",
    )
