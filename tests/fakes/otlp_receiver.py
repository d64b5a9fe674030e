"""An OTLP/HTTP trace receiver on loopback, standing in for the collector a cluster would run:
it decodes every export request and keeps the spans with their service names."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from ledgerline.infra.process import free_port


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    # The database system of a SQL statement's span ("postgresql"), empty for other spans.
    database: str = ""


def _database(attributes: Iterable[KeyValue]) -> str:
    """`db.system.name` (current semantic conventions) or `db.system` (older ones)."""
    found = {a.key: a.value.string_value for a in attributes}
    return found.get("db.system.name") or found.get("db.system", "")


@dataclass
class OtlpReceiver:
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def _record(self, raw: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(raw)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                with self._lock:
                    self.spans.extend(
                        ReceivedSpan(service, span.name, span.trace_id.hex(), _database(span.attributes))
                        for span in scope_spans.spans
                    )

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver._record(raw)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
