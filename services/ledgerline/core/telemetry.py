"""Metrics, logs and traces shared by every service.

Traces follow a payment across HTTP and Kafka: the `traceparent` of the request that caused a
change is stored with its outbox row and sent as a Kafka header; consumers continue it.
Exporting is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager

from fastapi import FastAPI, Response
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PROPAGATOR = TraceContextTextMapPropagator()
BATCH_LINKS_MAX = 128  # OpenTelemetry's default span link limit.

HTTP_REQUESTS = Counter("ledgerline_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "ledgerline_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # A line per outgoing request (the background reconciliation pages every few seconds) is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Record and export spans only when there is somewhere to send them.

    With a provider set, FastAPI's own instrumentation opens a server span per request
    (continuing the caller's `traceparent`); without one, tracing costs nothing.
    """
    if not otlp_endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"ledgerline-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    return trace.get_tracer("ledgerline")


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def continue_trace(name: str, traceparent: str | None) -> AbstractContextManager[Span]:
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
    """One consumer span for a batch, linked to the trace of every message in it."""
    links = [
        trace.Link(trace.get_current_span(_PROPAGATOR.extract({"traceparent": tp})).get_span_context())
        for tp in traceparents[:BATCH_LINKS_MAX]
        if tp
    ]
    return tracer().start_as_current_span(name, links=links, kind=trace.SpanKind.CONSUMER)


def install_http_telemetry(app: FastAPI, service: str) -> None:
    app.add_middleware(HttpMetrics, service=service)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
