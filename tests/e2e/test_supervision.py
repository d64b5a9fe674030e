"""Under `ledgerline up`, PostgreSQL is durable, and a SIGKILLed service, Kafka broker or
PostgreSQL is restarted by the supervisor: the platform serves again, payments accepted before
the kill complete and the books balance; `ledgerline status` shows the restarts."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ledgerline.client import LedgerlineClient, PaymentTimeout, operator_from_file, register_customer
from ledgerline.infra.platform import OPERATOR_CREDENTIALS_FILE
from ledgerline.infra.process import http_ok
from ledgerline.infra.supervisor import STATE_FILE_NAME
from tests.books import assert_books_balance, funded_wallet, track_databases, wallet_minor
from tests.e2e.test_settings_passthrough import RunningUp
from tests.polling import eventually

# Generous: a restart includes PostgreSQL's or the broker's crash recovery, on a busy machine
# (the broker has taken over three minutes on a 2-core machine under other test runs).
RESTART_TIMEOUT_S = 300.0
SETTLE_TIMEOUT_S = 90.0
# Short saga steps, so a command or reply lost with the broker is re-sent within seconds.
SHORT_SAGA_STEPS = [
    "--set",
    "payment.step_timeout_s=3",
    "--set",
    "payment.step_timeout_max_s=6",
    "--set",
    "payment.saga_scan_interval_s=0.5",
]
PAYMENTS_IN_FLIGHT = 5
CRASH_LINES_SHOWN_MAX = 40
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")
INFRASTRUCTURE = ("postgresql", "redis", "kafka")

# Apache Kafka, whose log survives a SIGKILL. The embedded broker of `make run` keeps messages
# in memory: after its SIGKILL a payment can stay POSTED for good.
# Bounds each test, with the module's `ledgerline up` start in the first: above the start and
# restart timeouts together.
pytestmark = [pytest.mark.apache, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def up() -> Iterator[RunningUp]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERLINE_", "OTEL_"))} | {"COLUMNS": "200"}
    running = RunningUp(["--free-ports", "--kafka", "apache", *SHORT_SAGA_STEPS], env)
    try:
        running.wait_running()
        yield running
        assert running.interrupt() == 0, running.output
    finally:
        if kept := os.environ.get("LEDGERLINE_KEEP_TEST_DATA"):
            shutil.copytree(running.data_dir / "logs", Path(kept) / running.data_dir.name, dirs_exist_ok=True)
        running.close()


@pytest.fixture
async def api(up: RunningUp) -> AsyncIterator[LedgerlineClient]:
    customer = await register_customer(up.url("identity"))
    operator = operator_from_file(up.data_dir / OPERATOR_CREDENTIALS_FILE)
    client = LedgerlineClient(up.url("wallet"), up.url("ledger"), up.url("payment"), auth=customer, operator=operator)
    postgres = re.search(r"PostgreSQL (postgresql://\S+)", up.output)
    assert postgres, up.output
    track_databases(up.url("ledger"), postgres.group(1))
    yield client
    await client.aclose()


def supervised(up: RunningUp) -> dict[str, Any]:
    try:
        return dict(json.loads((up.data_dir / STATE_FILE_NAME).read_text())["processes"])
    except FileNotFoundError:
        return {}


async def kill_and_await_restart(up: RunningUp, name: str) -> None:
    before = await eventually(lambda: supervised(up).get(name, {}).get("pid") and supervised(up)[name])
    assert before, f"{name} is not running under the supervisor: {supervised(up)}"
    # Only the main process: PostgreSQL's backends must notice on their own, as after a real crash.
    os.kill(before["pid"], signal.SIGKILL)

    def restarted() -> bool:
        now = supervised(up)[name]
        return bool(now["state"] == "running" and now["restarts"] > before["restarts"] and now["pid"] != before["pid"])

    assert await eventually(restarted, timeout_s=RESTART_TIMEOUT_S), f"{name} not restarted: {supervised(up)[name]}"
    assert f"restarted {name}" in up.output, up.output
    if name not in INFRASTRUCTURE:
        # A service is restarted as a container is, without waiting for its readiness.
        ready = await eventually(lambda: http_ok(f"{up.url(name)}/readyz"), timeout_s=RESTART_TIMEOUT_S)
        assert ready, f"{name} restarted but not ready:\n{crashed_workers(up)}"


async def start_transfers(api: LedgerlineClient, source: str, destination: str) -> list[str]:
    ids = []
    for _ in range(PAYMENTS_IN_FLIGHT):
        body = {"source_wallet_id": source, "destination_wallet_id": destination, "amount": "1.00", "currency": "EUR"}
        response = await api.post_payment("/v1/transfers", body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def settled_after_outage(up: RunningUp, api: LedgerlineClient, payment_id: str) -> dict[str, Any]:
    async def readable() -> dict[str, Any] | None:
        try:
            return await api.get_payment(payment_id)
        except Exception:  # Connection refused or 5xx while a dependency comes back.
            return None

    assert await eventually(readable, timeout_s=RESTART_TIMEOUT_S), f"payment {payment_id} unreadable"
    try:
        return await api.settle(payment_id, timeout_s=SETTLE_TIMEOUT_S)
    except PaymentTimeout as timeout:
        raise AssertionError(f"{timeout}; workers that crashed:\n{crashed_workers(up)}") from None


def crashed_workers(up: RunningUp) -> str:
    """The services' own worker restarts (consumers, relays, saga timer): where a stall starts."""
    lines = []
    for log in sorted((up.data_dir / "logs").glob("*.log")):
        lines += [f"{log.stem}: {line}" for line in log.read_text(errors="replace").splitlines() if "crashed" in line]
    return "\n".join(lines[-CRASH_LINES_SHOWN_MAX:]) or "(none)"


async def test_a_killed_service_is_restarted_and_serves_again(up: RunningUp, api: LedgerlineClient) -> None:
    alice = await funded_wallet(api, "alice", "10.00")
    bob = await funded_wallet(api, "bob", "0")
    await kill_and_await_restart(up, "wallet")
    assert (await wallet_minor(api, alice))["balance"] == 1000
    assert (await api.transfer(alice, bob, "4.00"))["status"] == "COMPLETED"
    assert await wallet_minor(api, bob) == {"balance": 400, "held": 0, "available": 400}
    status = subprocess.run(
        [sys.executable, "-m", "ledgerline.cli", "status", "--data-dir", str(up.data_dir)],
        capture_output=True,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
        timeout=60,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    # process, state, health, pid, restarts, exit, address: running, ready again, restarted once.
    wallet_row = next(line.split() for line in status.stdout.splitlines() if line.startswith("wallet "))
    assert wallet_row[1:3] == ["running", "ready"] and wallet_row[4] == "1", status.stdout
    up.process.send_signal(signal.SIGUSR1)
    assert await eventually(lambda: f"ledgerline up (pid {up.process.pid}) running" in up.output), up.output


async def test_the_postgresql_of_up_is_durable(up: RunningUp) -> None:
    found = re.search(r"PostgreSQL (postgresql://\S+)", up.output)
    assert found, up.output
    connection = await asyncpg.connect(found.group(1))
    try:
        settings = {name: await connection.fetchval(f"SHOW {name}") for name in DURABILITY_SETTINGS}
    finally:
        await connection.close()
    assert settings == dict.fromkeys(DURABILITY_SETTINGS, "on"), settings


@pytest.mark.parametrize("infrastructure", ["kafka", "postgresql"])
async def test_payments_in_flight_complete_after_infrastructure_is_killed(
    up: RunningUp, api: LedgerlineClient, infrastructure: str
) -> None:
    alice = await funded_wallet(api, "alice", "10.00")
    bob = await funded_wallet(api, "bob", "0")
    payment_ids = await start_transfers(api, alice, bob)
    await kill_and_await_restart(up, infrastructure)
    results = [await settled_after_outage(up, api, payment_id) for payment_id in payment_ids]
    assert [r["status"] for r in results] == ["COMPLETED"] * PAYMENTS_IN_FLIGHT, results
    assert await wallet_minor(api, bob) == {"balance": 500, "held": 0, "available": 500}
    await assert_books_balance(api)
