"""A webhook receiver on loopback that keeps every call it receives as one JSON line.

It stands in for a customer's endpoint, which is outside the platform: the chaos test points its
webhook subscriptions here and judges afterwards, from the file, what reached which subscription.
The sink answers every call with 204 and judges nothing itself: checking signatures and dropping
duplicates by `webhook-id` is left to the reader, who knows the subscriptions' secrets.
"""

from __future__ import annotations

import argparse
import hmac
import json
import signal
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook

BODY_BYTES_MAX = 1024 * 1024
# A signature's timestamp further than this from when the call arrived is refused, as the
# Standard Webhooks libraries refuse it (their check is against the clock of the moment, which a
# reader of the file long after cannot use).
TIMESTAMP_TOLERANCE_S = 300


@dataclass(frozen=True, slots=True)
class ReceivedWebhook:
    path: str
    webhook_id: str
    timestamp: str
    signature: str
    body: str
    received_at: float  # Unix seconds.

    def signed_by(self, secret: str) -> bool:
        """The Standard Webhooks check, its timestamp judged against the time of arrival."""
        try:
            sent_at = int(self.timestamp)
        except ValueError:
            return False
        if not self.webhook_id or abs(sent_at - self.received_at) > TIMESTAMP_TOLERANCE_S:
            return False
        expected = Webhook(secret).sign(self.webhook_id, datetime.fromtimestamp(sent_at, UTC), self.body)
        return any(hmac.compare_digest(expected, given) for given in self.signature.split(" "))


def read_received(file: Path) -> list[ReceivedWebhook]:
    """Every call the sink kept, in arrival order; a line still being written is left for later."""
    try:
        lines = file.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return []
    return [ReceivedWebhook(**json.loads(line)) for line in lines if line.endswith("\n")]


def _handler(file: Path, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            if length > BODY_BYTES_MAX:
                self.send_error(413)
                return
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender went away mid-call (killed by the chaos test): a receiver never got
                # this call, so it is not kept and gets no answer; the sender sends it again.
                self.close_connection = True
                return
            received = ReceivedWebhook(
                path=self.path,
                webhook_id=self.headers.get("webhook-id", ""),
                timestamp=self.headers.get("webhook-timestamp", ""),
                signature=self.headers.get("webhook-signature", ""),
                body=body.decode(errors="replace"),
                received_at=time.time(),
            )
            # Kept before the answer: a 204 means the call is on disk.
            with lock, file.open("a") as out:
                out.write(json.dumps(asdict(received)) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    args.file.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(args.file, threading.Lock()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
