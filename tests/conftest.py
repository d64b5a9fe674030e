"""Session fixtures: real infrastructure (PostgreSQL, Redis, a Kafka broker) and the running
platform, started once per Kafka backend and shared by the tests that need them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from ledgerline.client import LedgerlineClient
from ledgerline.infra.launcher import Infrastructure, Ports
from ledgerline.infra.platform import Platform
from tests.books import track_databases
from tests.fakes.webhook_receiver import WebhookReceiver

# Short saga timeouts so the timeout paths run in seconds; retries are harmless by design.
TEST_OVERRIDES = {
    "payment": {
        "LEDGERLINE_PAYMENT_STEP_TIMEOUT_S": "3",
        "LEDGERLINE_PAYMENT_STEP_TIMEOUT_MAX_S": "6",
        "LEDGERLINE_PAYMENT_SAGA_SCAN_INTERVAL_S": "0.5",
        "LEDGERLINE_PAYMENT_BANK_BREAKER_RESET_S": "2",
    },
    "notification": {"LEDGERLINE_NOTIFICATION_RETRY_DELAYS_S": "1,2"},
    # Background reconciliation every few seconds, so a test sees a broken wallet reported quickly.
    "ledger": {
        "LEDGERLINE_LEDGER_RECONCILIATION_INTERVAL_S": "2",
        "LEDGERLINE_LEDGER_RECONCILIATION_RECHECK_DELAY_S": "1",
        # Small pages, so every check of the books in the suite reads many of them.
        "LEDGERLINE_LEDGER_RECONCILIATION_PAGE_SIZE": "50",
    },
    # OWASP's minimum argon2id cost (19 MiB, 2 passes): the tests hash often on a small machine.
    "identity": {
        "LEDGERLINE_IDENTITY_ARGON2_MEMORY_COST_KIB": "19456",
        "LEDGERLINE_IDENTITY_ARGON2_TIME_COST": "2",
        "LEDGERLINE_IDENTITY_ARGON2_PARALLELISM": "1",
        # Rotated keys sign two seconds after they are published, so rotation tests wait briefly.
        "LEDGERLINE_IDENTITY_KEY_ACTIVATION_DELAY_S": "2",
    },
}


class Stack:
    """Infrastructure and platform for one Kafka backend, started on first use."""

    def __init__(self, root: Path, backend: str) -> None:
        # Crash-unsafe PostgreSQL, for speed: no test on these shared stacks kills or pauses
        # PostgreSQL or the host (tests/e2e/test_supervision.py runs its own durable platform).
        self.infra = Infrastructure(root / backend, kafka_backend=backend, ports=Ports.free(), durable=False)
        self.platform = Platform.on_free_ports(self.infra, environment="test", overrides=TEST_OVERRIDES)
        self.infra_started = False
        self.platform_started = False

    def ensure_infra(self) -> Infrastructure:
        if not self.infra_started:
            self.infra.start()
            self.infra_started = True
        return self.infra

    def ensure_platform(self) -> Platform:
        self.ensure_infra()
        if not self.platform_started:
            self.platform.start()
            self.platform_started = True
            track_databases(self.platform.url("ledger"), self.infra.database_url("ledger"))
        return self.platform

    def stop(self) -> None:
        self.platform.stop()
        self.infra.stop()


@pytest.fixture(scope="session")
def stacks() -> Iterator[dict[str, Stack]]:
    root = Path(tempfile.mkdtemp(prefix="ledgerline-tests-"))
    root.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the tests run as root.
    created: dict[str, Stack] = {}

    class Stacks(dict[str, Stack]):
        def __missing__(self, backend: str) -> Stack:
            created[backend] = self[backend] = Stack(root, backend)
            return created[backend]

    yield Stacks()
    for stack in created.values():
        stack.stop()
    if not os.environ.get("LEDGERLINE_KEEP_TEST_DATA"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def infra(stacks: dict[str, Stack]) -> Infrastructure:
    return stacks["embedded"].ensure_infra()


@pytest.fixture(scope="session")
def platform(stacks: dict[str, Stack]) -> Platform:
    return stacks["embedded"].ensure_platform()


@pytest.fixture(scope="session", params=["embedded", pytest.param("apache", marks=pytest.mark.apache)])
def any_platform(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Platform:
    """The platform on each Kafka backend in turn (embedded tansu, then Apache Kafka)."""
    return stacks[request.param].ensure_platform()


def _client(platform: Platform) -> LedgerlineClient:
    return LedgerlineClient(platform.url("wallet"), platform.url("ledger"), platform.url("payment"))


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[LedgerlineClient]:
    api = _client(platform)
    yield api
    await api.aclose()


@pytest.fixture
async def any_client(any_platform: Platform) -> AsyncIterator[LedgerlineClient]:
    api = _client(any_platform)
    yield api
    await api.aclose()


@pytest.fixture
async def notifications(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The notification service's API on the embedded platform."""
    async with httpx.AsyncClient(base_url=platform.url("notification"), timeout=30) as http:
        yield http


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on loopback, up for the test (tests may take it down and back)."""
    hook = WebhookReceiver()
    hook.start()
    yield hook
    hook.stop()
