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
from ledgerline.infra.prometheus import PrometheusServer
from ledgerline.verify.reading import Sources

PGBENCH_DATABASE = "ledgerline_pgbench"
# The benchmark is one customer sending as fast as the platform answers: on its own platform
# the per-principal limits are lifted, so it measures the platform rather than one allowance.
UNLIMITED = "1000000"
BENCH_OVERRIDES = {
    service: {
        f"LEDGERLINE_{service.upper()}_RATE_LIMIT_CAPACITY": UNLIMITED,
        f"LEDGERLINE_{service.upper()}_RATE_LIMIT_REFILL_PER_S": UNLIMITED,
    }
    for service in ("wallet", "ledger", "payment")
}


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
    # Where the benchmark's customer registers, and the operator (admin) client that checks the books.
    identity_url: str = "http://127.0.0.1:8005"
    operator_credentials: tuple[str, str] = ("", "")
    # A Prometheus scraping the platform: where to watch the run live and read its report from.
    prometheus_url: str | None = None


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def running_target(
    *,
    payment_url: str,
    wallet_url: str,
    ledger_url: str,
    pgbench_dsn: str,
    identity_url: str,
    operator_credentials: tuple[str, str],
    prometheus_url: str | None = None,
) -> Target:
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
        identity_url=identity_url,
        operator_credentials=operator_credentials,
        prometheus_url=prometheus_url,
    )


@contextmanager
def local_platform(kafka_backend: str, replicas: int = 1, *, prometheus: bool = False) -> Iterator[Target]:
    """A whole platform in a scratch folder, `replicas` instances of each service, and with
    `prometheus` the local Prometheus scraping it; gone afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="ledgerline-bench-"))
    data_dir.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the bench runs as root.
    infra = Infrastructure(data_dir, kafka_backend=kafka_backend, ports=Ports.free())
    platform = Platform.on_free_ports(infra, replicas=replicas, overrides=BENCH_OVERRIDES)
    scraper = PrometheusServer.for_platform(platform) if prometheus else None
    try:
        infra.start(databases=(*SERVICE_DATABASES, "pgbench"))
        platform.start()
        if scraper is not None:
            scraper.start()
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
            platform.url("identity"),
            platform.operator_credentials,
            scraper.url if scraper is not None else None,
        )
    finally:
        if scraper is not None:
            scraper.stop()
        platform.stop()
        infra.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
