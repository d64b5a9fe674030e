"""Toxiproxy: a TCP proxy on loopback whose faults (added latency, reset connections, a stalled
direction) are switched on and off over its HTTP API. The chaos test puts it between the
services and the broker and database.

Built once per version from the Go module proxy with the local Go (`go install`) into the user's
cache folder, as the control plane of the cluster tests is.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ledgerline.infra.process import InfrastructureError, ManagedProcess, find_executable, refuse_taken_port, tcp_open

TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
TOXIPROXY_VERSION = "v2.12.0"
BUILD_TIMEOUT_S = 1200.0  # First run downloads and compiles the module: minutes on 2 cores.
READY_TIMEOUT_S = 30.0
API_TIMEOUT_S = 10.0
BUILT_MARKER = ".built"
OUTPUT_TAIL_CHARS = 4000
INSTALL_HINT = "install Go 1.22 or newer (https://go.dev/doc/install, or Debian's golang-go)"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ledgerline" / f"toxiproxy-{TOXIPROXY_VERSION}"


def server_binary() -> Path:
    """toxiproxy's server, built on first use; the marker says the build finished."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "bin" / "server"
    with (folder / "build.lock").open("w") as lock:
        # Two chaos runs starting at once must not build into the same folder.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / BUILT_MARKER).exists() or not binary.is_file():
            build(folder)
            (folder / BUILT_MARKER).write_text(f"{TOXIPROXY_VERSION}\n")
    return binary


def build(folder: Path) -> None:
    go = find_executable("go", [Path("/usr/local/go/bin/go")])
    if go is None:
        raise InfrastructureError(f"the chaos test's network faults need toxiproxy, built with Go: {INSTALL_HINT}")
    env = {**os.environ, "GOBIN": str(folder / "bin"), "GOFLAGS": "-buildvcs=false"}
    command = [str(go), "install", "-ldflags=-s -w", f"{TOXIPROXY_MODULE}/cmd/server@{TOXIPROXY_VERSION}"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(f"building toxiproxy did not finish within {BUILD_TIMEOUT_S:.0f}s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-OUTPUT_TAIL_CHARS:]
        raise InfrastructureError(f"building toxiproxy {TOXIPROXY_VERSION} failed:\n{output}")


@dataclass(frozen=True, slots=True)
class Route:
    """One proxied connection target: clients connect to `listen_port`, which forwards upstream."""

    name: str
    listen_port: int
    upstream_port: int


class Toxiproxy:
    def __init__(self, data_dir: Path, api_port: int, routes: list[Route]) -> None:
        self.data_dir = data_dir
        self.api_port = api_port
        self.routes = {route.name: route for route in routes}
        self.process: ManagedProcess | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        refuse_taken_port("toxiproxy", self.api_port)
        binary = server_binary()
        self.process = ManagedProcess(
            "toxiproxy",
            # A fixed seed: a toxic's randomness (jitter) is the same in every replay of a run.
            [str(binary), "-host", "127.0.0.1", "-port", str(self.api_port), "-seed", "1"],
            log_path=self.data_dir / "toxiproxy.log",
        )
        self.process.start()
        self.process.wait_ready(lambda: tcp_open("127.0.0.1", self.api_port), timeout_s=READY_TIMEOUT_S)
        for route in self.routes.values():
            self._call(
                "POST",
                "/proxies",
                {
                    "name": route.name,
                    "listen": f"127.0.0.1:{route.listen_port}",
                    "upstream": f"127.0.0.1:{route.upstream_port}",
                    "enabled": True,
                },
            )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def add_toxic(self, route: str, name: str, kind: str, stream: str, attributes: dict[str, int]) -> None:
        body = {"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        self._call("POST", f"/proxies/{route}/toxics", body)

    def remove_toxic(self, route: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{route}/toxics/{name}", None, missing_ok=True)

    def heal(self) -> None:
        """Every proxy enabled, every toxic removed."""
        self._call("POST", "/reset", None)

    def _call(self, method: str, path: str, body: dict[str, Any] | None, *, missing_ok: bool = False) -> None:
        with httpx.Client(base_url=self.api_url, timeout=API_TIMEOUT_S) as http:
            response = http.request(method, path, json=body)
        if response.status_code == 404 and missing_ok:
            return
        if response.is_error:
            raise InfrastructureError(f"toxiproxy {method} {path}: {response.status_code} {response.text}")
