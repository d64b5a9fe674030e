"""The whole platform on one machine: infrastructure, migrations, topics, then every service
as its own process (real HTTP between them, real Kafka in between)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from ledgerline.core.kafka_clients import ensure_topics
from ledgerline.core.migrations import upgrade_to_head
from ledgerline.identity import administration as identity_administration
from ledgerline.identity.administration import SERVICE_CLIENT_SCOPES, service_client_id
from ledgerline.infra.gateway import Gateway
from ledgerline.infra.launcher import Infrastructure
from ledgerline.infra.process import ManagedProcess, free_stable_port, http_ok, tcp_open
from ledgerline.infra.service_settings import passthrough

SERVICES = ("wallet", "ledger", "payment", "notification", "identity", "rewards", "banksim")
MIGRATED = ("wallet", "ledger", "payment", "notification", "identity", "rewards")
DEFAULT_PORTS = {
    # The one entry point (nginx): the whole public API and its reference behind one address.
    "gateway": 8000,
    "wallet": 8001,
    "ledger": 8002,
    "payment": 8003,
    "notification": 8004,
    "identity": 8005,
    "rewards": 8006,
    "banksim": 8009,
    "smtp": 8025,
    # The local Prometheus (ledgerline.infra.prometheus); 9090 with a 1 in front, like the others.
    "prometheus": 19090,
    # Where the operator serves /metrics when someone runs it on this machine (its default,
    # ledgerline_operator.settings.METRICS_PORT); the local Prometheus scrapes it there.
    "operator": 8010,
}
# The bank simulator stands in for an outside bank and keeps its answers in memory, so it
# always runs once: a second copy would not know the first one's charges.
SINGLE_INSTANCE = ("banksim",)
SERVICE_READY_TIMEOUT_S = 60.0
# The platform's admin client, for `demo`, `bench` and the tests.
OPERATOR_CLIENT_ID = "ledgerline-operator"
OPERATOR_CREDENTIALS_FILE = "operator-client.json"


class PlatformOptions(TypedDict, total=False):
    """`Platform`'s fields other than the infrastructure and the ports, by name."""

    environment: str
    overrides: dict[str, dict[str, str]]
    services: tuple[str, ...]
    user_env: dict[str, str]
    replicas: int


@dataclass
class Platform:
    infra: Infrastructure
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    environment: str = "development"
    # Explicit per-service variables (`--set`, the test harness): they win over everything.
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    # The user's variables passed to every service (`LEDGERLINE_*`, `OTEL_*`); the process
    # environment unless given.
    user_env: dict[str, str] = field(default_factory=lambda: passthrough(os.environ))
    # Instances of each service, as a Deployment's replicas: the same databases and consumer
    # groups, each on its own port. Instance 1 is named after its service (`payment`), the
    # others get a number (`payment-2`) and a free port.
    replicas: int = 1

    def __post_init__(self) -> None:
        self.processes: dict[str, ManagedProcess] = {}
        # Client secrets, made afresh by every `prepare()`; a service gets its own in its environment.
        self.client_secrets: dict[str, str] = {}
        self.gateway: Gateway | None = None
        for service in self.services:
            for name in self.instances(service)[1:]:
                self.ports.setdefault(name, free_stable_port())

    def instances(self, service: str) -> list[str]:
        """The names of `service`'s instances, instance 1 first."""
        count = 1 if service in SINGLE_INSTANCE else self.replicas
        return [service] + [f"{service}-{number}" for number in range(2, count + 1)]

    def urls(self, service: str) -> list[str]:
        """Every instance's URL, instance 1 first; spreading requests over them is the caller's."""
        return [self.url(name) for name in self.instances(service)]

    def service_of(self, instance: str) -> str:
        base, _, number = instance.rpartition("-")
        return base if number.isdigit() and base in self.services else instance

    @classmethod
    def on_free_ports(cls, infra: Infrastructure, **options: Unpack[PlatformOptions]) -> Platform:
        ports = {name: free_stable_port() for name in DEFAULT_PORTS}
        return cls(infra, ports=ports, **options)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self, service: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The launcher's values, then the user's variables, then explicit overrides."""
        env = self.launcher_env(service)
        env.update(self.user_env)
        env.update(self.overrides.get(service, {}))
        env.update(extra or {})
        return env

    def launcher_env(self, service: str) -> dict[str, str]:
        prefix = f"LEDGERLINE_{service.upper()}_"
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LEDGERLINE_ENVIRONMENT": self.environment,
            "LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka.bootstrap_servers,
            "LEDGERLINE_KAFKA_FETCH_MAX_WAIT_MS": str(self.infra.kafka.fetch_max_wait_ms),
            "LEDGERLINE_REDIS_URL": self.infra.redis.url,
            prefix + "DATABASE_URL": self.infra.database_url(service),
            "LEDGERLINE_PAYMENT_WALLET_URL": self.url("wallet"),
            "LEDGERLINE_WALLET_PAYMENT_URL": self.url("payment"),
            "LEDGERLINE_PAYMENT_BANK_URL": self.url("banksim"),
            # The bank simulator's demonstration rates, so a quote works before the operator sets any.
            "LEDGERLINE_PAYMENT_FX_RATE_FEED_ENABLED": "true",
            "LEDGERLINE_LEDGER_WALLET_URL": self.url("wallet"),
            "LEDGERLINE_NOTIFICATION_WALLET_URL": self.url("wallet"),
            "LEDGERLINE_REWARDS_WALLET_URL": self.url("wallet"),
            "LEDGERLINE_REWARDS_PAYMENT_URL": self.url("payment"),
            "LEDGERLINE_AUTH_IDENTITY_URL": self.url("identity"),
            **self._client_env(service),
            "LEDGERLINE_NOTIFICATION_SMTP_HOST": "127.0.0.1",
            "LEDGERLINE_NOTIFICATION_SMTP_PORT": str(self.ports["smtp"]),
            # The entry point connects from loopback: only it may say who the client is.
            "LEDGERLINE_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }

    def _client_env(self, service: str) -> dict[str, str]:
        client_id = service_client_id(service)
        if client_id not in self.client_secrets:
            return {}
        prefix = f"LEDGERLINE_{service.upper()}_"
        return {prefix + "CLIENT_ID": client_id, prefix + "CLIENT_SECRET": self.client_secrets[client_id]}

    @property
    def operator_credentials(self) -> tuple[str, str]:
        """The admin client's id and secret (after `prepare()`)."""
        return OPERATOR_CLIENT_ID, self.client_secrets[OPERATOR_CLIENT_ID]

    @property
    def operator_credentials_path(self) -> Path:
        return self.infra.data_dir / OPERATOR_CREDENTIALS_FILE

    def provision_clients(self) -> None:
        """Every service's client and the operator's, each with a fresh secret; the operator's is
        also written (readable by this user only) for `ledgerline demo` and `bench --url`."""
        wanted: dict[str, tuple[str, ...]] = {
            service_client_id(service): scopes
            for service, scopes in SERVICE_CLIENT_SCOPES.items()
            if service in self.services
        }
        wanted[OPERATOR_CLIENT_ID] = ("admin",)
        self.client_secrets = identity_administration.provision_clients(
            self.infra.database_url("identity"), self.infra.redis.url, wanted
        )
        path = self.operator_credentials_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        client_id, secret = self.operator_credentials
        path.write_text(
            json.dumps({"client_id": client_id, "client_secret": secret, "identity_url": self.url("identity")})
        )

    def passed_settings(self) -> dict[str, dict[str, str]]:
        """Per service, the variables that differ from what the launcher alone would give."""
        passed: dict[str, dict[str, str]] = {}
        for service in self.services:
            own = self.launcher_env(service)
            changed = {k: v for k, v in self.env(service).items() if own.get(k) != v}
            if changed:
                passed[service] = changed
        return passed

    def prepare(self) -> None:
        for service in MIGRATED:
            if service in self.services:
                upgrade_to_head(f"ledgerline.{service}", self.infra.database_url(service))
        if "identity" in self.services:
            self.provision_clients()
        asyncio.run(ensure_topics(self.infra.kafka.bootstrap_servers))

    @property
    def mail_dir(self) -> Path:
        return self.infra.data_dir / "mail"

    def start(self) -> None:
        """Start every service at once (each joins its consumer groups), then wait for all."""
        self.prepare()
        self.start_smtp_sink()
        every = [name for service in self.services for name in self.instances(service)]
        for name in every:
            self.spawn_service(name)
        for name in every:
            self.wait_service(name)
        self.start_gateway()

    @property
    def entry_point(self) -> str:
        """Where the whole public API answers (the nginx of `start_gateway`)."""
        return self.url("gateway")

    def start_gateway(self) -> None:
        """nginx in front of every running service, with the combined API reference; the
        services must answer first, since the reference is made of their documents."""
        if self.gateway is None:
            gateway = Gateway.for_platform(self)
            gateway.publish_reference({service: self.url(service) for service in gateway.routes})
            self.gateway = gateway
        # A restart keeps the configuration and the reference written the first time.
        self.gateway.start()
        if self.gateway.process is not None:
            self.processes["gateway"] = self.gateway.process

    def start_service(self, service: str, extra_env: Mapping[str, str] | None = None) -> None:
        self.spawn_service(service, extra_env)
        self.wait_service(service)

    def spawn_service(self, service: str, extra_env: Mapping[str, str] | None = None) -> None:
        """Start one instance: `payment` is instance 1, `payment-2` the second."""
        name, service = service, self.service_of(service)
        process = ManagedProcess(
            name,
            [sys.executable, "-m", "ledgerline.cli", "serve", service, "--port", str(self.ports[name])],
            log_path=self.log_path(name),
            env=self.env(service, extra_env),
        )
        process.start()
        self.processes[name] = process

    def wait_service(self, service: str) -> None:
        self.processes[service].wait_ready(
            lambda: http_ok(f"{self.url(service)}/readyz"), timeout_s=SERVICE_READY_TIMEOUT_S
        )

    def start_smtp_sink(self) -> None:
        port = self.ports["smtp"]
        process = ManagedProcess(
            "smtp-sink",
            [sys.executable, "-m", "ledgerline.infra.smtp_sink", "--port", str(port), "--dir", str(self.mail_dir)],
            log_path=self.infra.data_dir / "logs" / "smtp-sink.log",
        )
        process.start()
        self.processes["smtp-sink"] = process
        process.wait_ready(lambda: tcp_open("127.0.0.1", port), timeout_s=SERVICE_READY_TIMEOUT_S)

    def stop_service(self, service: str, *, crash: bool = False) -> None:
        process = self.processes.pop(service, None)
        if process is not None:
            process.kill() if crash else process.stop()

    def stop(self) -> None:
        for service in reversed(list(self.processes)):
            self.stop_service(service)

    def describe(self) -> dict[str, dict[str, str]]:
        return {
            name: {"api_docs": f"{self.url(name)}/docs", "metrics": f"{self.url(name)}/metrics"}
            for name in self.processes
            if self.service_of(name) in self.services
        }

    def log_path(self, service: str) -> Path:
        return self.infra.data_dir / "logs" / f"{service}.log"

    def dump(self) -> str:
        return json.dumps(self.describe(), indent=2)
