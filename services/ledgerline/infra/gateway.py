"""The one entry point of the local platform: nginx (Debian's package, installed by `make
bootstrap`) routing the public API by path prefix to the services, as the chart's Ingress and
HTTPRoute do in a cluster.

Both read the same table: `services.<name>.routes` in the chart's values.yaml. Adding a service to
the entry point is one line there. nginx runs as the user who started the platform, with its
configuration, pid file, logs and temporary files under the data folder.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from ledgerline.infra.packaged_server import REPOSITORY, DebianPackage, PackagedServer
from ledgerline.infra.process import tcp_open
from ledgerline.reference import documents as api_reference

if TYPE_CHECKING:
    from ledgerline.infra.platform import Platform

CHART_VALUES = REPOSITORY / "charts" / "ledgerline" / "values.yaml"
NGINX = DebianPackage("nginx", Path("/usr/sbin/nginx"), " for the entry point")
ORPHANS_GONE_TIMEOUT_S = 10.0
# The chart component serving the combined API reference (`ledgerline serve reference`).
REFERENCE = "reference"
# The entry point's own liveness answer, which no service path shadows.
HEALTH_PATH = "/gateway/healthz"
# The services refuse larger bodies themselves (core.settings.REQUEST_BODY_BYTES_CEILING); nginx
# only needs to let through what any of them may accept.
CLIENT_BODY_BYTES_MAX = 16 * 1024 * 1024
# Idle connections kept open to each service, so a request does not pay a TCP handshake.
UPSTREAM_KEEPALIVE_MAX = 16
WORKER_CONNECTIONS_MAX = 1024
# A saga step may take a while under load; the services bound their own work below this.
PROXY_READ_TIMEOUT_S = 120
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_MIME_TYPES = {
    "text/html": "html",
    "text/css": "css",
    "application/javascript": "js",
    "application/json": "json",
    "image/png": "png",
}
_MIME_OF_SUFFIX = {suffix: mime for mime, suffix in _MIME_TYPES.items()}


def routes_table(values_path: Path = CHART_VALUES) -> dict[str, tuple[str, ...]]:
    """Component -> the path prefixes the entry point routes to it (the chart's routes table)."""
    values = yaml.safe_load(values_path.read_text())
    return {
        name: tuple(service.get("routes") or ())
        for name, service in values["services"].items()
        if isinstance(service, dict) and service.get("routes")
    }


def public_routes(values_path: Path = CHART_VALUES) -> dict[str, tuple[str, ...]]:
    """Service -> its public path prefixes: the routes table less the reference, whose pages the
    local entry point serves as files (`Gateway.publish_reference`) instead of proxying."""
    return {name: prefixes for name, prefixes in routes_table(values_path).items() if name != REFERENCE}


def locations(prefix: str) -> tuple[str, str]:
    """nginx locations matching what a Kubernetes `Prefix` path matches: the path itself and
    everything below it, element by element (`/v1/wallets` does not match `/v1/walletsX`)."""
    trimmed = prefix.rstrip("/")
    return f"= {trimmed}", f"{trimmed}/"


def upstream_name(service: str) -> str:
    return f"ledgerline_{service}"


def render_config(
    *,
    port: int,
    data_dir: Path,
    routes: Mapping[str, Sequence[str]],
    upstreams: Mapping[str, Sequence[int]],
    static_aliases: Mapping[str, Path] | None = None,
    user: str | None = None,
) -> str:
    """The whole nginx.conf: one upstream per routed service (its instances' ports), one location
    per public prefix, and files served as they are (URL path -> file or folder: the API reference)."""
    lines = [
        "# Written by `ledgerline up` on every start; edits are lost.",
        *([f"user {user};"] if user else []),
        "worker_processes 1;",
        f"pid {data_dir / 'nginx.pid'};",
        f"error_log {data_dir / 'error.log'} warn;",
        f"events {{ worker_connections {WORKER_CONNECTIONS_MAX}; }}",
        "http {",
        "  types { " + " ".join(f"{mime} {ext};" for mime, ext in _MIME_TYPES.items()) + " }",
        "  default_type application/octet-stream;",
        # Swagger UI's script holds UTF-8 text; without a charset a browser reads it as Latin-1.
        "  charset utf-8;",
        # text/html is in the list already.
        "  charset_types text/css application/javascript application/json;",
        f"  access_log {data_dir / 'access.log'};",
        *(f"  {name}_temp_path {data_dir / 'temp' / name};" for name in TEMP_DIRS),
        f"  client_max_body_size {CLIENT_BODY_BYTES_MAX};",
        "  server_tokens off;",
    ]
    for service in routes:
        servers = " ".join(f"server 127.0.0.1:{p};" for p in upstreams[service])
        lines.append(f"  upstream {upstream_name(service)} {{ {servers} keepalive {UPSTREAM_KEEPALIVE_MAX}; }}")
    lines += [
        "  server {",
        f"    listen 127.0.0.1:{port};",
        "    proxy_http_version 1.1;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header Host $http_host;",
        # The entry point is the outermost hop here: what a client claims in its own
        # X-Forwarded-For is replaced by the address it connects from.
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        f"    proxy_read_timeout {PROXY_READ_TIMEOUT_S}s;",
        f"    location = {HEALTH_PATH} {{ default_type text/plain; return 200 'ok\\n'; }}",
    ]
    for service, prefixes in routes.items():
        for prefix in prefixes:
            for location in locations(prefix):
                lines.append(f"    location {location} {{ proxy_pass http://{upstream_name(service)}; }}")
    for url_path, file in (static_aliases or {}).items():
        # A path ending in `/` serves a folder below it; any other path is one file, typed by
        # the file's name since the URL (`/docs`) may have no extension.
        if url_path.endswith("/"):
            lines.append(f"    location {url_path} {{ alias {file}/; }}")
        else:
            mime = _MIME_OF_SUFFIX.get(file.suffix.lstrip("."), "application/octet-stream")
            lines.append(f"    location = {url_path} {{ default_type {mime}; alias {file}; }}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


async def _fetched_documents(urls: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=api_reference.FETCH_TIMEOUT_S) as http:
        return await api_reference.fetch_documents(http, urls)


def _worker_user() -> str | None:
    """nginx started as root hands its workers to `nobody`, who may not read the data folder; they
    run as root's own user instead, like every other process of the platform."""
    return pwd.getpwuid(os.getuid()).pw_name if os.geteuid() == 0 else None


class Gateway(PackagedServer):
    """nginx on `port`, proxying each routed service to its instances on 127.0.0.1."""

    name = "gateway"
    package = NGINX
    ready_path = HEALTH_PATH
    log_name = "nginx.log"

    def __init__(
        self,
        data_dir: Path,
        port: int,
        upstreams: Mapping[str, Sequence[int]],
        *,
        routes: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        every = public_routes() if routes is None else routes
        self.routes = {service: tuple(every[service]) for service in upstreams if service in every}
        self.upstreams = dict(upstreams)
        self.static_aliases: dict[str, Path] = {}

    @classmethod
    def for_platform(cls, platform: Platform) -> Gateway:
        upstreams = {s: [platform.ports[name] for name in platform.instances(s)] for s in platform.services}
        return cls(platform.infra.data_dir / "gateway", platform.ports["gateway"], upstreams)

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nginx.conf"

    def publish_reference(self, urls: Mapping[str, str]) -> None:
        """Merge the OpenAPI documents of the running services (service -> URL) into the API
        reference this entry point serves at /docs, /redoc and /openapi.json."""
        document = api_reference.merge_documents(asyncio.run(_fetched_documents(urls)), self.routes)
        self.static_aliases = api_reference.write_reference(self.data_dir / "reference", document)

    def write_config(self) -> Path:
        for name in TEMP_DIRS:
            (self.data_dir / "temp" / name).mkdir(parents=True, exist_ok=True)
        config = render_config(
            port=self.port,
            data_dir=self.data_dir,
            routes=self.routes,
            upstreams=self.upstreams,
            static_aliases=self.static_aliases,
            user=_worker_user(),
        )
        self.config_path.write_text(config)
        return self.config_path

    def command(self, binary: Path) -> list[str]:
        # `-e` before the configuration is read: Debian's build logs to /var/log otherwise.
        return [
            str(binary),
            "-p",
            str(self.data_dir),
            "-c",
            str(self.config_path),
            "-e",
            str(self.data_dir / "error.log"),
            "-g",
            "daemon off;",
        ]

    def start(self) -> None:
        self._end_orphaned_workers()
        super().start()

    def stop(self) -> None:
        super().stop()
        self._end_orphaned_workers()

    def _end_orphaned_workers(self) -> None:
        """nginx's workers outlive a master that was killed outright and keep the port: they are
        in the master's session (process group), which is ended whole."""
        previous = self.process.process if self.process is not None else None
        if previous is None or previous.poll() is None:
            return
        try:
            os.killpg(previous.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        # SIGKILL is delivered, not awaited: the port frees once the workers are gone.
        deadline = time.monotonic() + ORPHANS_GONE_TIMEOUT_S
        while tcp_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
