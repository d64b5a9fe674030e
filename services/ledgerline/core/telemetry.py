"""Metrics, logs and traces shared by every service.

Traces follow a payment across HTTP and Kafka: the `traceparent` of the request that caused a
change is stored with its outbox row and sent as a Kafka header (or inside a batch record, per
event); consumers continue it, and what they publish in turn carries their span's. Tracing is off
unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the other standard `OTEL_*` variables apply), and
off it costs nothing per message: no instrumentation is installed and no span is made.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerline.core.settings import MetricsSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ledgerline.core.events import Envelope

_log = logging.getLogger(__name__)
_PROPAGATOR = TraceContextTextMapPropagator()
BATCH_LINKS_MAX = 128  # OpenTelemetry's default span link limit.
# Requests that are not the platform's work: scrapes and probes would drown the traces.
UNTRACED_URLS = "metrics,healthz,readyz"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# OpenTelemetry's logging instrumentation puts the current span's ids on every record.
_TRACED_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s]: %(message)s"
_tracing = False

HTTP_REQUESTS = Counter("ledgerline_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "ledgerline_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def configure_logging(level: str, *, with_trace_ids: bool = False) -> None:
    if with_trace_ids:
        from opentelemetry.instrumentation.logging import LoggingInstrumentor

        # Ids on the records only: the format is ours, and logs are not exported as OTLP.
        LoggingInstrumentor().instrument(
            set_logging_format=False, inject_trace_context=True, enable_log_auto_instrumentation=False
        )
    logging.basicConfig(level=level.upper(), format=_TRACED_LOG_FORMAT if with_trace_ids else _LOG_FORMAT)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # A line per outgoing request (the background reconciliation pages every few seconds) is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def traces_endpoint(otlp_endpoint: str | None, environ: Mapping[str, str]) -> str | None:
    """Where spans go, read as the OpenTelemetry SDK reads its variables; None: tracing stays off.

    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the full URL and wins over `OTEL_EXPORTER_OTLP_ENDPOINT`
    (`otlp_endpoint`), to which `/v1/traces` is added; `OTEL_SDK_DISABLED=true` or
    `OTEL_TRACES_EXPORTER=none` turn tracing off whatever the endpoint.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    return f"{otlp_endpoint.rstrip('/')}/v1/traces" if otlp_endpoint else None


def configure_tracing(service: str, otlp_endpoint: str | None) -> bool:
    """Record and export spans only when there is somewhere to send them (`traces_endpoint`);
    True if it will.

    With a provider set, every httpx client sends `traceparent` and records a client span; the
    app and the database engine are instrumented where they are made (`instrument_app`,
    `instrument_engine`). Without one, none of it is installed.
    """
    global _tracing
    endpoint = traces_endpoint(otlp_endpoint, os.environ)
    if endpoint is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    # OTEL_TRACES_SAMPLER, when set, is the user's choice and the SDK reads it.
    sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else ParentBased(root=OnlyWithinTraces(ALWAYS_ON))
    provider = TracerProvider(resource=Resource.create({"service.name": f"ledgerline-{service}"}), sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    _tracing = True
    return True


class OnlyWithinTraces(Sampler):
    """Drops a client span (a SQL statement, an outgoing call) that starts a trace of its own: the
    outbox relay's polls and retention's deletes belong to no request and, alone, would be most of
    the traces. Everything else is left to `root`."""

    def __init__(self, root: Sampler) -> None:
        self._root = root

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind is trace.SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._root.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"OnlyWithinTraces{{{self._root.get_description()}}}"


def tracing_enabled() -> bool:
    return _tracing


def instrument_app(app: FastAPI) -> None:
    """A server span per request, continuing the caller's `traceparent`."""
    if _tracing:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS)


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per SQL statement, under whatever span runs it."""
    if _tracing:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The instrumentation declares SQLAlchemy < 2.1 and refuses 2.1 unless told otherwise; its
        # engine event hooks (before/after_cursor_execute) are unchanged in 2.1, and
        # tests/e2e/test_tracing.py requires the SQL spans they make.
        traced = SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, skip_dep_check=True)
        if traced is None:
            _log.warning("SQL statements are not traced: the SQLAlchemy instrumentation refused the engine")


def tracer() -> trace.Tracer:
    return trace.get_tracer("ledgerline")


def current_traceparent() -> str | None:
    if not _tracing:
        return None  # No span is ever current: skip the propagator on every message.
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def continue_trace(name: str, traceparent: str | None) -> AbstractContextManager[Span]:
    """A consumer span, current inside the block, continuing `traceparent` (nothing when off)."""
    if not _tracing:
        return nullcontext(trace.INVALID_SPAN)
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    return tracer().start_as_current_span(name, context=parent, kind=trace.SpanKind.CONSUMER)


class HttpMetrics:
    """Request count and latency per route template, as plain ASGI middleware (no per-request
    task or body buffering, unlike `@app.middleware`)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self._app = app
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, observed_send)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(self._service, method, template, str(status)).inc()
            HTTP_LATENCY.labels(self._service, method, template).observe(time.perf_counter() - started)


def batch_trace(name: str, traceparents: Sequence[str | None]) -> AbstractContextManager[Span]:
    """One consumer span for a batch, linked to the trace of every message in it. A batch whose
    messages all come from one trace (one payment's, as on a quiet platform) is a span of that
    trace, so the statements it runs are seen beside the request that caused them."""
    parents = [
        trace.get_current_span(_PROPAGATOR.extract({"traceparent": tp})).get_span_context() for tp in traceparents if tp
    ]
    links = [trace.Link(parent) for parent in parents[:BATCH_LINKS_MAX]]
    one_trace = parents and len({parent.trace_id for parent in parents}) == 1
    context = trace.set_span_in_context(trace.NonRecordingSpan(parents[0])) if one_trace else None
    return tracer().start_as_current_span(name, context=context, links=links, kind=trace.SpanKind.CONSUMER)


def install_http_telemetry(app: FastAPI, service: str) -> None:
    """Request metrics, and /metrics beside the API unless the process serves them on a port of
    its own (`serve_metrics_apart`)."""
    app.add_middleware(HttpMetrics, service=service)
    if MetricsSettings().metrics_port is not None:
        return

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def serve_metrics_apart(host: str) -> None:
    """Serve /metrics on `LEDGERLINE_METRICS_PORT` in a thread of this process, if it is set."""
    port = MetricsSettings().metrics_port
    if port is not None:
        start_http_server(port, host)


@contextmanager
def event_spans(consumer: str, envelopes: Sequence[Envelope]) -> Iterator[Mapping[str, str]]:
    """One span per consumed event that carries a trace, each continuing its own event's trace,
    open while the batch is applied. Yields the `traceparent` of each span by the event's key (the
    payment id on saga topics), for what the batch publishes about the same payment. The spans
    are not made current: the batch's own work belongs to no single one of them."""
    by_key: dict[str, str] = {}
    spans: list[Span] = []
    try:
        for envelope in envelopes:
            if not envelope.traceparent:
                continue
            parent = _PROPAGATOR.extract({"traceparent": envelope.traceparent})
            span = tracer().start_span(f"{consumer} {envelope.type}", context=parent, kind=trace.SpanKind.CONSUMER)
            spans.append(span)
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
            if envelope.key and "traceparent" in carrier:
                by_key[envelope.key] = carrier["traceparent"]
        yield by_key
    finally:
        for span in spans:
            span.end()
