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

from ledgerline.client import LedgerlineClient, PasswordLogin, register_customer
from ledgerline.core.access_tokens import ClientCredentials
from ledgerline.infra.launcher import Infrastructure, Ports
from ledgerline.infra.platform import Platform
from tests.books import track_databases
from tests.fakes.webhook_receiver import WebhookReceiver

# Signing keys rotate during the suite and sign two seconds after they are published: every
# verifier may fetch the new key set a second after its last fetch, not ten.
_FAST_JWKS_REFRESH = {"LEDGERLINE_AUTH_JWKS_REFRESH_INTERVAL_MIN_S": "1"}
# Short saga timeouts so the timeout paths run in seconds; retries are harmless by design.
TEST_OVERRIDES = {
    "wallet": _FAST_JWKS_REFRESH,
    "banksim": _FAST_JWKS_REFRESH,
    "payment": {
        **_FAST_JWKS_REFRESH,
        # Low enough that tests/e2e/test_rate_limits.py can outrun it; clients wait out a 429.
        "LEDGERLINE_PAYMENT_RATE_LIMIT_CAPACITY": "60",
        "LEDGERLINE_PAYMENT_RATE_LIMIT_REFILL_PER_S": "30",
        "LEDGERLINE_PAYMENT_STEP_TIMEOUT_S": "3",
        "LEDGERLINE_PAYMENT_STEP_TIMEOUT_MAX_S": "6",
        "LEDGERLINE_PAYMENT_SAGA_SCAN_INTERVAL_S": "0.5",
        "LEDGERLINE_PAYMENT_BANK_BREAKER_RESET_S": "2",
    },
    "notification": {**_FAST_JWKS_REFRESH, "LEDGERLINE_NOTIFICATION_RETRY_DELAYS_S": "1,2"},
    "rewards": _FAST_JWKS_REFRESH,
    # Background reconciliation every few seconds, so a test sees a broken wallet reported quickly.
    "ledger": {
        **_FAST_JWKS_REFRESH,
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
        # Every test logs in from 127.0.0.1: room for the suite's pace, not for guessing.
        "LEDGERLINE_IDENTITY_ADDRESS_RATE_LIMIT_CAPACITY": "40",
        "LEDGERLINE_IDENTITY_ADDRESS_RATE_LIMIT_REFILL_PER_S": "4",
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


def operator_auth(platform: Platform) -> ClientCredentials:
    """The platform's admin client (client credentials, `admin` scope)."""
    return ClientCredentials(platform.url("identity"), *platform.operator_credentials)


def platform_client(platform: Platform, auth: httpx.Auth) -> LedgerlineClient:
    """A client acting as `auth`, with the operator's token for admin calls (reconciliation, freeze)."""
    return LedgerlineClient(
        platform.url("wallet"),
        platform.url("ledger"),
        platform.url("payment"),
        auth=auth,
        operator=operator_auth(platform),
    )


@pytest.fixture
async def customer(platform: Platform) -> PasswordLogin:
    """A customer registered for this test and logged in; `client` and `notifications` act as them."""
    return await register_customer(platform.url("identity"))


@pytest.fixture
async def client(platform: Platform, customer: PasswordLogin) -> AsyncIterator[LedgerlineClient]:
    api = platform_client(platform, customer)
    yield api
    await api.aclose()


@pytest.fixture
async def any_client(any_platform: Platform) -> AsyncIterator[LedgerlineClient]:
    api = platform_client(any_platform, await register_customer(any_platform.url("identity")))
    yield api
    await api.aclose()


@pytest.fixture
async def admin_client(platform: Platform) -> AsyncIterator[LedgerlineClient]:
    """The operator: `admin` scope, owns no wallets."""
    api = platform_client(platform, operator_auth(platform))
    yield api
    await api.aclose()


@pytest.fixture
async def notifications(platform: Platform, customer: PasswordLogin) -> AsyncIterator[httpx.AsyncClient]:
    """The notification service's API on the embedded platform, as the `client` fixture's customer."""
    async with httpx.AsyncClient(base_url=platform.url("notification"), timeout=30, auth=customer) as http:
        yield http


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on loopback, up for the test (tests may take it down and back)."""
    hook = WebhookReceiver()
    hook.start()
    yield hook
    hook.stop()
