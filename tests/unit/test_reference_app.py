"""The reference app is not ready, and says so in problem+json, until every service has answered;
it merges again on its interval, keeps the last good reference while a service is down, and its
configuration refuses what it could not serve."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ledgerline.infra.process import free_port
from ledgerline.reference.app import ReferencedService, ReferenceSettings, create_app

WAIT_S = 60.0


def settings_for(url: str, refresh_interval_s: float = 300.0) -> ReferenceSettings:
    service = ReferencedService.model_validate({"url": url, "routes": ["/v1/wallets"]})
    return ReferenceSettings(services={"wallet": service}, retry_delay_max_s=1.0, refresh_interval_s=refresh_interval_s)


def service_document(*paths: str) -> dict[str, Any]:
    operation = {"operationId": "op", "responses": {"200": {"description": "ok"}}}
    return {"openapi": "3.1.0", "info": {"title": "wallet"}, "paths": {p: {"get": operation} for p in paths}}


class DocumentServer:
    """A service's /openapi.json over real HTTP: whatever document it holds, or 503 with none."""

    def __init__(self) -> None:
        self.document: dict[str, Any] | None = None
        self.refused = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(owner.document).encode()
                owner.refused += owner.document is None
                self.send_response(200 if owner.document is not None else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def wallet_service() -> Iterator[DocumentServer]:
    server = DocumentServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def eventually(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S}s: {what}"
        time.sleep(0.1)


def test_the_reference_follows_the_services_and_survives_one_going_down(wallet_service: DocumentServer) -> None:
    app = create_app(settings_for(wallet_service.url, refresh_interval_s=1.0))
    with TestClient(app) as client:

        def paths() -> set[str]:
            answer = client.get("/openapi.json")
            return set(answer.json()["paths"]) if answer.status_code == 200 else set()

        assert client.get("/readyz").status_code == 503
        wallet_service.document = service_document("/v1/wallets", "/internal/debug")
        eventually("ready once the service answers", lambda: client.get("/readyz").status_code == 200)
        # Only the routed paths are public.
        assert paths() == {"/v1/wallets"}
        wallet_service.document = service_document("/v1/wallets", "/v1/wallets/{wallet_id}")
        eventually("the new operation merged on the next refresh", lambda: "/v1/wallets/{wallet_id}" in paths())
        wallet_service.document = None
        refused = wallet_service.refused
        eventually("two refreshes refused", lambda: wallet_service.refused >= refused + 2)
        assert paths() == {"/v1/wallets", "/v1/wallets/{wallet_id}"}
        assert client.get("/readyz").status_code == 200


def test_nothing_is_served_until_every_service_answers() -> None:
    # Nothing listens on a port just freed: the wallet service "is still starting".
    app = create_app(settings_for(f"http://127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            answer = client.get(path)
            assert answer.status_code == 503, path
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "reference_not_ready"
            assert answer.headers["retry-after"] == "5"
        # The assets come from the wheel and need no service.
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {"services": {}},
        {"services": {"wallet": {"url": "ftp://wallet", "routes": ["/v1/wallets"]}}},
        {"services": {"wallet": {"url": "http://wallet:8080", "routes": []}}},
        {"services": {"wallet": {"url": "http://wallet:8080", "routes": ["/v1"]}}, "refresh_interval_s": 0},
    ],
)
def test_settings_refuse_what_cannot_be_served(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ReferenceSettings.model_validate(settings)
