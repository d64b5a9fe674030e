"""pgbench's TPC-B-like workload against the PostgreSQL Ledgerline runs on: the yardstick."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

INIT_TIMEOUT_S = 300
RUN_MARGIN_S = 60
_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


class PgbenchError(RuntimeError):
    """pgbench could not be found or did not finish."""


@dataclass(frozen=True, slots=True)
class PgbenchRun:
    tps: float
    clients: int
    threads: int
    duration_s: int
    scale: int
    command: str


def find_pgbench(bindir: Path | None) -> Path:
    if bindir is not None and (bindir / "pgbench").is_file():
        return bindir / "pgbench"
    found = shutil.which("pgbench")
    if found is None:
        raise PgbenchError("pgbench not found: install Debian's postgresql-15 (make bootstrap does)")
    return Path(found)


def run_pgbench(pgbench: Path, dsn: str, *, scale: int, clients: int, threads: int, duration_s: int) -> PgbenchRun:
    """Initialise `scale` in the database of `dsn` (a scratch database, created if missing), then
    run the workload."""
    ensure_database(pgbench.with_name("psql"), dsn)
    _run([str(pgbench), "-i", "-q", "-s", str(scale), dsn], INIT_TIMEOUT_S)
    command = [str(pgbench), "-c", str(clients), "-j", str(threads), "-T", str(duration_s), "-M", "prepared", dsn]
    output = _run(command, duration_s + RUN_MARGIN_S)
    found = _TPS.search(output)
    if found is None:
        raise PgbenchError(f"no tps in pgbench output:\n{output}")
    shown = " ".join([*command[:-1], f"(scale {scale})"])
    return PgbenchRun(float(found.group(1)), clients, threads, duration_s, scale, shown)


def _run(command: list[str], timeout_s: int) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PgbenchError(f"{command[0]} did not finish in {timeout_s}s") from exc
    if result.returncode != 0:
        raise PgbenchError(f"{' '.join(command[:-1])} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout + result.stderr


def ensure_database(psql: Path, dsn: str) -> None:
    """Create the scratch database of `dsn` when the server lacks it (a running platform's does)."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise PgbenchError(f"scratch database name {name!r}: use lower-case letters, digits and _")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    exists = _run([str(psql), "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'", maintenance], 60)
    if exists.strip() != "1":
        _run([str(psql), "-c", f'CREATE DATABASE "{name}"', maintenance], 60)
