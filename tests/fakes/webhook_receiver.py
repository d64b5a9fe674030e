"""A webhook receiver on loopback, outside the platform by nature: it verifies each delivery's
Standard Webhooks signature, records it, and can be taken down and brought back on its port."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

from ledgerline.infra.process import free_port


@dataclass
class Delivery:
    webhook_id: str
    body: dict[str, Any]
    signature_valid: bool


@dataclass
class WebhookReceiver:
    secrets: dict[str, str] = field(default_factory=dict)  # path -> signing secret
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def subscribe(self, notifications: httpx.AsyncClient, wallet_id: str, path: str) -> str:
        """Subscribe `path` on this receiver to the wallet's payment events; keeps the secret."""
        response = await notifications.post("/v1/webhooks", json={"wallet_id": wallet_id, "url": self.url(path)})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["secret"].startswith("whsec_")
        self.secrets[path] = body["secret"]
        return str(body["id"])

    def unique(self, path_prefix: str = "") -> dict[str, Delivery]:
        """Deliveries after dropping duplicates by webhook-id, as a careful receiver would."""
        with self._lock:
            return {d.webhook_id: d for d in self.deliveries if d.body.get("_path", "").startswith(path_prefix)}

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                secret = receiver.secrets.get(self.path)
                valid = False
                if secret:
                    try:
                        Webhook(secret).verify(raw, dict(self.headers.items()))
                        valid = True
                    except WebhookVerificationError:
                        valid = False
                body = json.loads(raw) | {"_path": self.path}
                with receiver._lock:
                    receiver.deliveries.append(Delivery(self.headers.get("webhook-id", ""), body, valid))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
