"""One transfer is one trace: with an OTLP endpoint set, the payment service's request span, the
wallet's and the ledger's handling of its commands, the SQL statements of all three, and the
notification of its outcome all land in the same trace at a real OTLP receiver, carried through
outbox rows, batch records and Kafka headers; and a log line written while handling it carries the trace id."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.core.contracts import BANK_OPERATION
from ledgerline.infra.launcher import Infrastructure, Ports
from ledgerline.infra.platform import Platform
from ledgerline.infra.process import free_port
from tests.books import assert_books_balance, funded_wallet, track_databases, wallet_minor
from tests.conftest import TEST_OVERRIDES, platform_client
from tests.fakes.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.polling import eventually

TRACED_SERVICES = ("wallet", "ledger", "payment", "notification", "identity", "banksim")
SPANS_WITHIN_S = 60.0
# A deposit whose bank keeps failing stays INITIATED for as long as the re-send test needs, however
# slowly a busy machine shows its first bank call: never failed for running out of attempts.
TRACED_OVERRIDES = {
    **TEST_OVERRIDES,
    "payment": {**TEST_OVERRIDES["payment"], "LEDGERLINE_PAYMENT_STEP_ATTEMPTS_MAX": "100"},
}


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def traced_platform(otlp: OtlpReceiver) -> Iterator[Platform]:
    """A platform of its own: spans go to this test's receiver, and no other test's traffic."""
    root = Path(tempfile.mkdtemp(prefix="ledgerline-traced-"))
    root.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the tests run as root.
    infra = Infrastructure(root, ports=Ports.free(), durable=False)
    # Spans leave every 100 ms rather than every 5 s, so the test waits less.
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    platform = Platform.on_free_ports(
        infra, environment="test", overrides=TRACED_OVERRIDES, services=TRACED_SERVICES, user_env=otel
    )
    infra.start()
    try:
        platform.start()
        track_databases(platform.url("ledger"), infra.database_url("ledger"))
        yield platform
    finally:
        platform.stop()
        infra.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def traced_client(traced_platform: Platform) -> AsyncIterator[LedgerlineClient]:
    api = platform_client(traced_platform, await register_customer(traced_platform.url("identity")))
    yield api
    await api.aclose()


async def test_a_transfer_is_one_trace_across_payment_wallet_ledger_and_notification(
    traced_platform: Platform, traced_client: LedgerlineClient, otlp: OtlpReceiver
) -> None:
    alice = await funded_wallet(traced_client, "alice", "100.00")
    bob = await funded_wallet(traced_client, "bob", "0.00")
    # Bob's webhook endpoint refuses connections: the failed delivery is logged inside the trace.
    async with httpx.AsyncClient(
        base_url=traced_platform.url("notification"), timeout=30, auth=traced_client.auth
    ) as notifications:
        hook = {"wallet_id": bob, "url": f"http://127.0.0.1:{free_port()}/refused"}
        assert (await notifications.post("/v1/webhooks", json=hook)).status_code == 201
    response = await traced_client.post_payment(
        "/v1/transfers",
        {"source_wallet_id": alice, "destination_wallet_id": bob, "amount": "25.50", "currency": "EUR"},
    )
    assert response.status_code == 202, response.text
    transfer = await traced_client.settle(response.json()["id"])
    assert transfer["status"] == "COMPLETED", transfer
    assert (await wallet_minor(traced_client, alice))["balance"] == 7_450
    assert (await wallet_minor(traced_client, bob))["balance"] == 2_550

    def request_trace() -> str | None:
        found = [
            s.trace_id for s in otlp.received() if s.service == "ledgerline-payment" and "POST /v1/transfers" in s.name
        ]
        return found[-1] if found else None

    trace_id = await eventually(request_trace, timeout_s=SPANS_WITHIN_S)
    assert trace_id, f"no span of POST /v1/transfers; received {sorted({(s.service, s.name) for s in otlp.received()})}"

    def services_in_trace() -> set[str]:
        return {s.service for s in otlp.received() if s.trace_id == trace_id}

    expected = {"ledgerline-payment", "ledgerline-wallet", "ledgerline-ledger", "ledgerline-notification"}
    assert await eventually(lambda: expected <= services_in_trace(), timeout_s=SPANS_WITHIN_S), (
        f"trace {trace_id} has spans of {services_in_trace()}: "
        f"{sorted((s.service, s.name) for s in otlp.received() if s.trace_id == trace_id)}"
    )
    names = {(s.service, s.name) for s in otlp.received() if s.trace_id == trace_id}
    # The wallet handles the reserve and the settle, the ledger the entry, each in this trace.
    assert sum(1 for service, _ in names if service == "ledgerline-wallet") >= 2, names
    assert any(service == "ledgerline-ledger" and "post_entry" in name.lower() for service, name in names), names

    def services_with_sql_in_trace() -> set[str]:
        return {s.service for s in otlp.received() if s.trace_id == trace_id and s.database}

    # The statements each service ran for this transfer are spans of its trace too.
    sql = {"ledgerline-payment", "ledgerline-wallet", "ledgerline-ledger"}
    assert await eventually(lambda: sql <= services_with_sql_in_trace(), timeout_s=SPANS_WITHIN_S), (
        f"trace {trace_id} has SQL spans of {services_with_sql_in_trace()} only"
    )

    def logged_in_trace() -> list[str]:
        text = traced_platform.log_path("notification").read_text()
        return [line for line in text.splitlines() if f"trace_id={trace_id}" in line]

    lines = await eventually(logged_in_trace, timeout_s=SPANS_WITHIN_S)
    assert any("failed" in line for line in lines), traced_platform.log_path("notification").read_text()[-3000:]
    await assert_books_balance(traced_client)


async def test_a_step_the_saga_timer_re_sends_stays_in_the_payment_trace(
    traced_platform: Platform, traced_client: LedgerlineClient, otlp: OtlpReceiver
) -> None:
    """The bank fails every call, so the deposit's charge has no outcome and the saga timer
    re-sends it; once the bank is back the re-sent charge, and the steps after it, are spans of
    the trace the deposit was accepted in."""
    wallet = (await traced_client.open_wallet("gina"))["id"]

    def spans_in(trace_id: str) -> list[ReceivedSpan]:
        return [s for s in otlp.received() if s.trace_id == trace_id]

    def bank_runs(trace_id: str) -> list[ReceivedSpan]:
        return [s for s in spans_in(trace_id) if s.service == "ledgerline-payment" and s.name.endswith(BANK_OPERATION)]

    async with httpx.AsyncClient(base_url=traced_platform.url("banksim"), auth=traced_client.operator) as bank:
        await bank.put("/v1/admin/behaviour", json={"latency_ms": 0, "failure_rate_percent": 100})
        try:

            def deposit_traces() -> list[str]:
                return [
                    s.trace_id
                    for s in otlp.received()
                    if s.service == "ledgerline-payment" and "POST /v1/deposits" in s.name
                ]

            # Deposits of other tests on this platform have traces too: this one's is the new one.
            earlier = set(deposit_traces())
            body = {"wallet_id": wallet, "amount": "5.00", "currency": "EUR", "card_token": "tok_visa"}
            response = await traced_client.post_payment("/v1/deposits", body)
            assert response.status_code == 202, response.text

            def request_trace() -> str | None:
                found = [trace for trace in deposit_traces() if trace not in earlier]
                return found[-1] if found else None

            trace_id = await eventually(request_trace, timeout_s=SPANS_WITHIN_S)
            assert trace_id, "no span of POST /v1/deposits"
            # The first run of the charge failed: only the saga timer can run it again.
            assert await eventually(lambda: bank_runs(trace_id), timeout_s=SPANS_WITHIN_S)
            assert (await traced_client.get_payment(response.json()["id"]))["status"] == "INITIATED"
        finally:
            await bank.put("/v1/admin/behaviour", json={"latency_ms": 0, "failure_rate_percent": 0})

    deposit = await traced_client.settle(response.json()["id"])
    assert deposit["status"] == "COMPLETED", deposit
    assert await wallet_minor(traced_client, wallet) == {"balance": 500, "held": 0, "available": 500}

    def re_sent_and_posted() -> bool:
        posted = any(s.service == "ledgerline-ledger" and "post_entry" in s.name.lower() for s in spans_in(trace_id))
        return len(bank_runs(trace_id)) >= 2 and posted

    assert await eventually(re_sent_and_posted, timeout_s=SPANS_WITHIN_S), (
        f"trace {trace_id}: {sorted((s.service, s.name) for s in spans_in(trace_id))}"
    )
    await assert_books_balance(traced_client)
