"""`ledgerline status` and `ledgerline up` show every address whole on an 80-column terminal, and
status tells a ready process from one that is up but not ready, or not answering at all."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rich.console import Console

from ledgerline.cli.status import endpoints_table, probe_all, status_table
from ledgerline.infra.platform import DEFAULT_PORTS

TERMINAL_COLUMNS = 80


class Readiness(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Readiness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _process(url: str | None, health_url: str | None = None, state: str = "running") -> dict[str, Any]:
    return {
        "state": state,
        "pid": 4242,
        "restarts": 0,
        "last_exit_code": None,
        "restart_in_s": None,
        "url": url,
        "health_url": health_url,
    }


def _render(renderable: Any) -> str:
    console = Console(width=TERMINAL_COLUMNS, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_status_probes_health_by_url_or_address(http_port: int) -> None:
    base = f"http://127.0.0.1:{http_port}"
    processes = {
        "wallet": _process(base, f"{base}/readyz"),
        "ledger": _process(base, f"{base}/not-ready"),
        "payment": _process(f"http://127.0.0.1:{_closed_port()}", f"http://127.0.0.1:{_closed_port()}/readyz"),
        "redis": _process(f"redis://127.0.0.1:{http_port}/0"),
        "kafka": _process(f"127.0.0.1:{_closed_port()}"),
        "rewards": _process(base, f"{base}/readyz", state="restarting"),
    }
    assert probe_all(processes) == {
        "wallet": "ready",
        "ledger": "not ready (503)",
        "payment": "no answer",
        "redis": "ready",
        "kafka": "no answer",
        "rewards": "-",
    }


def test_status_shows_every_address_whole_in_80_columns() -> None:
    addresses = {
        "gateway": "http://127.0.0.1:8000",
        "postgresql": "127.0.0.1:15432",
        "kafka": "127.0.0.1:19092",
        "notification": "http://127.0.0.1:8004",
    }
    state = {
        "processes": {name: _process(url) | {"pid": 4194304, "restart_in_s": 12.5} for name, url in addresses.items()}
    }
    health = dict.fromkeys(addresses, "not ready (503)")
    shown = _render(status_table(state, health))
    lines = shown.splitlines()
    assert lines[1].split()[0] == "gateway", shown  # the entry point first
    for url in addresses.values():
        assert any(url in line for line in lines), shown
    assert max(len(line) for line in lines) <= TERMINAL_COLUMNS


def test_up_shows_every_docs_and_metrics_url_whole_in_80_columns() -> None:
    services = {
        name: {"api_docs": f"http://127.0.0.1:{port}/docs", "metrics": f"http://127.0.0.1:{port}/metrics"}
        for name, port in DEFAULT_PORTS.items()
        if name in {"wallet", "notification", "banksim"}
    }
    shown = _render(endpoints_table("http://127.0.0.1:8000", services))
    assert "http://127.0.0.1:8000/docs" in shown, shown
    for urls in services.values():
        assert urls["api_docs"] in shown and urls["metrics"] in shown, shown
    assert "…" not in shown, shown
