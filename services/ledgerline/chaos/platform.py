"""The platform the chaos test breaks: on free ports, durable PostgreSQL, Apache Kafka by default,
short saga timeouts, and a supervisor thread that restarts whatever is killed, as `ledgerline up`
does."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledgerline.infra.launcher import Infrastructure, Ports
from ledgerline.infra.platform import Platform, http_ok
from ledgerline.infra.process import InfrastructureError
from ledgerline.infra.supervisor import Supervisor, supervise_platform

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
# A fresh Apache Kafka creates its offsets topic on the first group join; on a busy machine the
# services' first start can outlast their readiness timeout while it does, and a second succeeds.
PLATFORM_START_ATTEMPTS = 2


@dataclass
class ChaosPlatform:
    platform: Platform
    supervisor: Supervisor

    def healthy(self) -> bool:
        infra = self.platform.infra
        parts = [infra.postgres.process, infra.redis.process, infra.kafka.process, *self.platform.processes.values()]
        if not all(p is not None and p.running for p in parts):
            return False
        return all(
            http_ok(f"{self.platform.url(name)}/readyz") for name in self.platform.processes if name != "smtp-sink"
        )

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
    infra = Infrastructure(data_dir, kafka_backend=kafka_backend, ports=Ports.free(), durable=True)
    platform = Platform.on_free_ports(infra, environment="test", overrides=CHAOS_OVERRIDES, user_env={})
    stopping = threading.Event()
    thread: threading.Thread | None = None
    try:
        infra.start()
        _start(platform, say)
        supervisor = Supervisor(supervise_platform(platform), data_dir=data_dir, say=say)
        thread = threading.Thread(target=supervisor.run, args=(stopping.is_set,), name="supervisor", daemon=True)
        thread.start()
        yield ChaosPlatform(platform, supervisor)
    finally:
        stopping.set()
        if thread is not None:
            thread.join()
        platform.stop()
        infra.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


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
