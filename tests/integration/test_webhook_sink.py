"""The chaos test's webhook receiver keeps every call that fully arrived, signed as sent, and
none whose sender went away before its body did (a real receiver never got that call)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from ledgerline.infra.process import free_stable_port, tcp_open
from ledgerline.infra.webhook_sink import read_received

SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
START_TIMEOUT_S = 30.0


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port, file = free_stable_port(), tmp_path / "received.jsonl"
    command = [sys.executable, "-m", "ledgerline.infra.webhook_sink", "--port", str(port), "--file", str(file)]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not tcp_open("127.0.0.1", port):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"the webhook sink did not listen on {port}")
        time.sleep(0.1)
    yield port, file
    process.terminate()
    process.wait(timeout=START_TIMEOUT_S)


def test_a_whole_call_is_kept_and_a_call_cut_short_is_not(sink: tuple[int, Path]) -> None:
    port, file = sink
    body = '{"type":"payment.completed","data":{"payment_id":"p-1"}}'
    sent_at = datetime.now(UTC)
    signature = Webhook(SECRET).sign("msg-1", sent_at, body)
    headers = {
        "webhook-id": "msg-1",
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    assert httpx.post(f"http://127.0.0.1:{port}/sub/1", content=body, headers=headers).status_code == 204

    with socket.create_connection(("127.0.0.1", port)) as cut:
        cut.sendall(
            b"POST /sub/1 HTTP/1.1\r\nHost: x\r\nwebhook-id: msg-2\r\nContent-Length: 100\r\n\r\n" + b'{"type":'
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    # A last whole call: once it is on disk, the cut one has been dealt with (one thread each, but
    # the cut one ends as soon as its connection closes).
    time.sleep(0.5)
    assert httpx.post(f"http://127.0.0.1:{port}/sub/2", content=body, headers=headers).status_code == 204
    while len(read_received(file)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    received = read_received(file)
    assert [(r.path, r.webhook_id) for r in received] == [("/sub/1", "msg-1"), ("/sub/2", "msg-1")]
    assert received[0].body == body and received[0].signed_by(SECRET)
    assert not received[0].signed_by("whsec_" + "b3RoZXItb3RoZXItb3RoZXItb3RoZXI=")
