"""Start and stop the platform's infrastructure: PostgreSQL, Redis and a Kafka broker.

The run command and the test suite both use `Infrastructure`; data lives in one folder
(`.ledgerline/` in the project unless told otherwise) and everything listens on loopback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ledgerline.infra.kafka_embedded import EmbeddedKafka
from ledgerline.infra.postgres import PostgresServer
from ledgerline.infra.process import ManagedProcess, free_stable_port
from ledgerline.infra.redis import RedisServer

KafkaBackendName = Literal["embedded", "apache"]
KAFKA_BACKENDS: tuple[KafkaBackendName, ...] = ("embedded", "apache")
SERVICE_DATABASES = ("wallet", "ledger", "payment", "notification", "identity", "rewards")


class KafkaBroker(Protocol):
    backend: str
    fetch_max_wait_ms: int
    process: ManagedProcess | None

    @property
    def bootstrap_servers(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def default_data_dir() -> Path:
    configured = os.environ.get("LEDGERLINE_DATA_DIR")
    return Path(configured) if configured else Path.cwd() / ".ledgerline"


def database_name(service: str) -> str:
    return f"ledgerline_{service}"


def create_kafka(backend: str, data_dir: Path, port: int) -> KafkaBroker:
    if backend == "embedded":
        return EmbeddedKafka(data_dir, port)
    if backend == "apache":
        from ledgerline.infra.kafka_apache import ApacheKafka

        return ApacheKafka(data_dir, port)
    raise ValueError(f"unknown Kafka backend {backend!r}; choose one of {', '.join(KAFKA_BACKENDS)}")


@dataclass
class Ports:
    postgres: int
    redis: int
    kafka: int

    @classmethod
    def fixed(cls) -> Ports:
        # Below Linux's ephemeral range (32768-60999): inside it, a client's outgoing connection
        # can take the port while its server is down (a reconnect to 127.0.0.1 can even connect
        # to itself), and the restarted server then fails with "Address already in use".
        # Each is the standard port with a 1 in front, so they are easy to remember.
        return cls(postgres=15432, redis=16379, kafka=19092)

    @classmethod
    def free(cls) -> Ports:
        """Free ports below the ephemeral range too, for test and benchmark platforms."""
        return cls(postgres=free_stable_port(), redis=free_stable_port(), kafka=free_stable_port())


@dataclass
class Infrastructure:
    data_dir: Path
    kafka_backend: str = "embedded"
    ports: Ports = field(default_factory=Ports.fixed)
    # PostgreSQL keeps every acknowledged commit across a crash unless told otherwise; only test
    # stacks that inject no crash turn this off (see postgres.CRASH_UNSAFE_OPTIONS).
    durable: bool = True

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.postgres = PostgresServer(self.data_dir / "postgres", self.ports.postgres, durable=self.durable)
        self.redis = RedisServer(self.data_dir / "redis", self.ports.redis)
        self.kafka = create_kafka(self.kafka_backend, self.data_dir / "kafka", self.ports.kafka)
        self._started: list[PostgresServer | RedisServer | KafkaBroker] = []

    def start(self, databases: tuple[str, ...] = SERVICE_DATABASES) -> None:
        """Start all three; on any failure stop what started and re-raise with its message."""
        try:
            for part in (self.postgres, self.redis, self.kafka):
                part.start()
                self._started.append(part)
            for service in databases:
                self.postgres.create_database(database_name(service))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            part.stop()

    def database_url(self, service: str) -> str:
        return self.postgres.url(database_name(service))

    def __enter__(self) -> Infrastructure:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
