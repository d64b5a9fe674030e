"""What a consumer publishes continues the trace it was given: messages published while applying
a batch take the trace of the consumed event about the same payment (by key), the rest keep
theirs; tracing is on only where the standard OTEL_* variables say so; with tracing on, a SQL
statement or outgoing call is traced only inside a trace; and with tracing off nothing is made or
changed."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import OutgoingMessage
from ledgerline.core.telemetry import OnlyWithinTraces, continue_trace, traces_endpoint, tracing_enabled

TRACE_A = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_B = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _message(key: str, traceparent: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(topic="t", key=key, type="x", source="/test", data={}, traceparent=traceparent)


def test_published_messages_take_the_trace_of_their_payment() -> None:
    uow = UnitOfWork(engine=Any)  # type: ignore[arg-type]  # Publishing touches no database.
    uow.publish(_message("before", TRACE_B))
    start = uow.message_count
    uow.publish(_message("p1"), _message("p2", TRACE_B), _message("p3"))
    traces = {"p1": TRACE_A, "p2": TRACE_A, "before": TRACE_A}
    uow.continue_traces(lambda message: traces.get(message.key), start=start)
    assert [(m.key, m.traceparent) for m in uow.pending_messages] == [
        ("before", TRACE_B),  # Published before `start`: left alone.
        ("p1", TRACE_A),
        ("p2", TRACE_A),  # The consumed event's trace wins over the batch span's.
        ("p3", None),  # No event about p3 carried a trace.
    ]
    ids = [m.id for m in uow.pending_messages]
    assert len(set(ids)) == 4  # Only the trace changes, never the event id the inboxes key on.


def test_with_tracing_off_a_consumer_span_is_nothing() -> None:
    assert not tracing_enabled()
    with continue_trace("consumer x", TRACE_A) as span:
        assert not span.get_span_context().is_valid


def test_client_spans_are_recorded_only_inside_a_trace() -> None:
    """The outbox relay's polling statement, alone, is no trace; the same statement run while
    handling a request is a span of the request's trace."""
    spans = TracerProvider(sampler=ParentBased(root=OnlyWithinTraces(ALWAYS_ON))).get_tracer("test")
    alone = spans.start_span("SELECT ledgerline_wallet", kind=trace.SpanKind.CLIENT)
    assert not alone.is_recording()
    with spans.start_as_current_span("POST /v1/transfers", kind=trace.SpanKind.SERVER) as request:
        assert request.is_recording()
        inside = spans.start_span("SELECT ledgerline_wallet", kind=trace.SpanKind.CLIENT)
        assert inside.is_recording()
        assert inside.get_span_context().trace_id == request.get_span_context().trace_id


def test_the_standard_variables_say_whether_and_where_spans_go() -> None:
    collector = "http://collector:4318"
    assert traces_endpoint(None, {}) is None  # Off by default.
    assert traces_endpoint(collector + "/", {}) == "http://collector:4318/v1/traces"
    own = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom"}
    assert traces_endpoint(None, own) == "http://traces:4318/custom"
    assert traces_endpoint(collector, own) == "http://traces:4318/custom"  # The signal's own wins.
    assert traces_endpoint(collector, {"OTEL_SDK_DISABLED": "true"}) is None
    assert traces_endpoint(collector, {"OTEL_SDK_DISABLED": "false"}) == "http://collector:4318/v1/traces"
    assert traces_endpoint(collector, own | {"OTEL_TRACES_EXPORTER": "none"}) is None
