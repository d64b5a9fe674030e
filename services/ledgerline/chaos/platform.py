"""The platform the chaos test breaks: on free ports, durable PostgreSQL, Apache Kafka by default,
short saga timeouts, a supervisor thread that restarts whatever is killed, as `ledgerline up`
does, and toxiproxy between the services and their database and broker, for network faults."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledgerline.infra.gateway import HEALTH_PATH as GATEWAY_HEALTH_PATH
from ledgerline.infra.kafka_apache import ApacheKafka
from ledgerline.infra.launcher import SERVICE_DATABASES, Infrastructure, Ports
from ledgerline.infra.platform import DEFAULT_PORTS, Platform
from ledgerline.infra.process import InfrastructureError, free_stable_port, http_ok
from ledgerline.infra.supervisor import Supervisor, supervise_platform
from ledgerline.infra.toxiproxy import Route, Toxiproxy

# Short step timeouts, so a pause of a few seconds outlasts a step and the saga's timer acts;
# the bank timeout is below the slow bank's latency (faults.BANK_SLOW_LATENCY_MS).
STEP_TIMEOUT_S = 3.0
CHAOS_OVERRIDES = {
    "payment": {
        "LEDGERLINE_PAYMENT_STEP_TIMEOUT_S": str(STEP_TIMEOUT_S),
        "LEDGERLINE_PAYMENT_STEP_TIMEOUT_MAX_S": "8",
        "LEDGERLINE_PAYMENT_SAGA_SCAN_INTERVAL_S": "0.5",
        "LEDGERLINE_PAYMENT_BANK_TIMEOUT_S": "2",
        "LEDGERLINE_PAYMENT_BANK_BREAKER_RESET_S": "2",
    },
    "notification": {"LEDGERLINE_NOTIFICATION_RETRY_DELAYS_S": "1,2"},
}
HEALTH_POLL_S = 0.5
# Where each process says it is ready when that is not a service's /readyz.
_READY_PATHS = {"gateway": GATEWAY_HEALTH_PATH}
# A fresh Apache Kafka creates its offsets topic on the first group join; on a busy machine the
# services' first start can outlast their readiness timeout while it does, and a second succeeds.
PLATFORM_START_ATTEMPTS = 2


@dataclass
class ChaosPlatform:
    platform: Platform
    supervisor: Supervisor
    network: Toxiproxy
    # Set when a seed found a violation: the run's logs then outlive its data folder.
    keep_logs: bool = False

    def healthy(self) -> bool:
        infra = self.platform.infra
        parts = [infra.postgres.process, infra.redis.process, infra.kafka.process, self.network.process]
        parts += self.platform.processes.values()
        if not all(p is not None and p.running for p in parts):
            return False
        return all(http_ok(f"{self.platform.url(name)}{_READY_PATHS.get(name, '/readyz')}") for name in self._probed())

    def _probed(self) -> list[str]:
        return [name for name in self.platform.processes if name != "smtp-sink"]

    def wait_healthy(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(HEALTH_POLL_S)
        return False

    def restarts(self) -> dict[str, int]:
        return {name: record.restarts for name, record in self.supervisor.records.items() if record.restarts}


@contextmanager
def chaos_platform(kafka_backend: str, say: Callable[[str], None]) -> Iterator[ChaosPlatform]:
    data_dir = Path(tempfile.mkdtemp(prefix="ledgerline-chaos-"))
    data_dir.chmod(0o755)  # PostgreSQL runs as an unprivileged user when this runs as root.
    # Every server here is killed and restarted on its port: none may lie in the ephemeral range,
    # where the proxy's and the clients' own connections could hold it in the meantime.
    pick = distinct_ports()
    ports = Ports(postgres=pick(), redis=pick(), kafka=pick())
    infra = Infrastructure(data_dir, kafka_backend=kafka_backend, ports=ports, durable=True)
    network = Toxiproxy(data_dir / "toxiproxy", pick(), network_routes(infra, pick))
    if "kafka" in network.routes and isinstance(infra.kafka, ApacheKafka):
        # Clients reach the broker at the address it advertises: the proxy's.
        infra.kafka.advertised_port = network.routes["kafka"].listen_port
    overrides = {**CHAOS_OVERRIDES}
    for service in SERVICE_DATABASES:
        proxied = {f"LEDGERLINE_{service.upper()}_DATABASE_URL": proxied_database_url(infra, network, service)}
        overrides[service] = {**overrides.get(service, {}), **proxied}
    service_ports = {name: pick() for name in DEFAULT_PORTS}
    platform = Platform(infra, ports=service_ports, environment="test", overrides=overrides, user_env={})
    stopping = threading.Event()
    thread: threading.Thread | None = None
    chaos: ChaosPlatform | None = None
    try:
        network.start()
        infra.start()
        _start(platform, say)
        supervisor = Supervisor(supervise_platform(platform), data_dir=data_dir, say=say)
        thread = threading.Thread(target=supervisor.run, args=(stopping.is_set,), name="supervisor", daemon=True)
        thread.start()
        chaos = ChaosPlatform(platform, supervisor, network)
        yield chaos
    finally:
        stopping.set()
        if thread is not None:
            thread.join()
        platform.stop()
        infra.stop()
        network.stop()
        if chaos is not None and chaos.keep_logs:
            say(f"the logs of this run are kept in {keep_logs(data_dir)}")
        shutil.rmtree(data_dir, ignore_errors=True)


def keep_logs(data_dir: Path) -> Path:
    """Every log of the run (services, supervisor, broker, database, proxy) in a folder of its own."""
    kept = Path(tempfile.mkdtemp(prefix="ledgerline-chaos-logs-"))
    for log in data_dir.rglob("*.log"):
        if log.is_file():
            shutil.copy2(log, kept / f"{log.parent.name}-{log.name}")
    return kept


def distinct_ports() -> Callable[[], int]:
    """Free stable ports, never the same one twice (none is bound until its server starts)."""
    taken: set[int] = set()

    def pick() -> int:
        port = free_stable_port()
        while port in taken:
            port = free_stable_port()
        taken.add(port)
        return port

    return pick


def network_routes(infra: Infrastructure, pick: Callable[[], int]) -> list[Route]:
    """PostgreSQL always; the broker when it can advertise the proxy (Apache Kafka can)."""
    routes = [Route("postgresql", pick(), infra.ports.postgres)]
    if isinstance(infra.kafka, ApacheKafka):
        routes.append(Route("kafka", pick(), infra.ports.kafka))
    return routes


def proxied_database_url(infra: Infrastructure, network: Toxiproxy, service: str) -> str:
    direct = f":{infra.ports.postgres}/"
    return infra.database_url(service).replace(direct, f":{network.routes['postgresql'].listen_port}/", 1)


def _start(platform: Platform, say: Callable[[str], None]) -> None:
    for attempt in range(1, PLATFORM_START_ATTEMPTS + 1):
        try:
            platform.start()
            return
        except InfrastructureError as error:
            platform.stop()
            if attempt == PLATFORM_START_ATTEMPTS:
                raise
            say(f"the platform did not start (attempt {attempt}), starting it again: {str(error).splitlines()[0]}")
