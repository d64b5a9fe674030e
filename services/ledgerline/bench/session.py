"""Where the benchmark runs: a fresh local platform on free ports, or one already running."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ledgerline.infra.launcher import SERVICE_DATABASES, Infrastructure, Ports
from ledgerline.infra.platform import Platform
from ledgerline.verify.reading import Sources

PGBENCH_DATABASE = "ledgerline_pgbench"


@dataclass(frozen=True, slots=True)
class Target:
    payment_url: str
    wallet_url: str
    ledger_url: str
    pgbench_dsn: str
    databases: Sources  # Where the books are read after every workload.
    pgbench_bindir: Path | None = None
    ports: dict[str, int] = field(default_factory=dict)  # Processes whose CPU time is reported.
    description: str = ""
    payment_urls: tuple[str, ...] = ()  # Every payment instance, where there are several.


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def running_target(*, payment_url: str, wallet_url: str, ledger_url: str, pgbench_dsn: str) -> Target:
    ports = {"payment": _port(payment_url), "wallet": _port(wallet_url), "ledger": _port(ledger_url)}
    return Target(
        payment_url,
        wallet_url,
        ledger_url,
        pgbench_dsn,
        Sources.on_server(pgbench_dsn),
        None,
        ports,
        f"running platform at {payment_url}",
    )


@contextmanager
def local_platform(kafka_backend: str, replicas: int = 1) -> Iterator[Target]:
    """A whole platform in a scratch folder, `replicas` instances of each service; gone afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="ledgerline-bench-"))
    data_dir.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the bench runs as root.
    infra = Infrastructure(data_dir, kafka_backend=kafka_backend, ports=Ports.free())
    platform = Platform.on_free_ports(infra, replicas=replicas)
    try:
        infra.start(databases=(*SERVICE_DATABASES, "pgbench"))
        platform.start()
        # Every instance by name (payment, payment-2), so CPU time is reported per process.
        ports = {name: platform.ports[name] for service in platform.services for name in platform.instances(service)}
        ports |= {"postgres": infra.ports.postgres, "redis": infra.ports.redis, "kafka": infra.ports.kafka}
        yield Target(
            platform.url("payment"),
            platform.url("wallet"),
            platform.url("ledger"),
            infra.postgres.url(PGBENCH_DATABASE, driver="postgresql"),
            Sources.on_server(infra.database_url("wallet")),
            infra.postgres.bindir,
            ports,
            f"local platform, Kafka backend {kafka_backend}, {replicas} instance(s) of each service",
            tuple(platform.urls("payment")),
        )
    finally:
        platform.stop()
        infra.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
