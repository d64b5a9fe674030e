"""Metrics, logs and traces shared by every service.

Traces follow a payment across HTTP and Kafka: the `traceparent` of the request that caused a
change is stored with its outbox row and sent as a Kafka header; consumers continue it.
Exporting is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager

from fastapi import FastAPI, Request, Response
from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

_PROPAGATOR = TraceContextTextMapPropagator()

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


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"ledgerline-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
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


def install_http_telemetry(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        parent = _PROPAGATOR.extract(dict(request.headers))
        token = context.attach(parent)
        started = time.perf_counter()
        status = 500
        try:
            with tracer().start_as_current_span(f"{request.method} {request.url.path}", kind=trace.SpanKind.SERVER):
                response = await call_next(request)
                status = response.status_code
                return response
        finally:
            context.detach(token)
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(service, request.method, template, str(status)).inc()
            HTTP_LATENCY.labels(service, request.method, template).observe(time.perf_counter() - started)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
