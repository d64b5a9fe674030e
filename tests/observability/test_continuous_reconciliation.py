"""The ledger's background reconciliation exports the money supply, at rest what the wallets hold,
and finds a wallet changed behind the ledger's back: its mismatch gauge and the alert expression
that pages on it go non-zero within a few passes, on the service's /metrics and in a real
Prometheus scraping it, and return to clean once the wallet is put back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import Platform
from ledgerline.infra.prometheus import PrometheusServer
from tests.books import assert_books_balance, funded_wallet, minor
from tests.observability.conftest import RULES_FILES
from tests.polling import eventually

# Passes run every 2 s and a wallet that differs is read again 1 s later (tests/conftest.py);
# Prometheus scrapes and evaluates every 5 s. Generous bounds for a machine busy with other work.
REPORTED_WITHIN_S = 90.0
DRIFT_MINOR = 1_234  # 12.34 EUR that the wallet gains without any journal entry.


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def _ledger_metric(platform: Platform, name: str, **labels: str) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{platform.url('ledger')}/metrics")).text
    wanted = tuple(sorted(labels.items()))
    return sum(value for key, value in _samples(text, name).items() if set(wanted) <= set(key))


def _alert_expr(name: str) -> str:
    for path in RULES_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == name:
                    return str(rule["expr"])
    raise AssertionError(f"no alert {name} in {RULES_FILES}")


def _query(prometheus: PrometheusServer, expr: str) -> list[dict[str, object]]:
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


@pytest.fixture
async def wallet_db(platform: Platform) -> AsyncIterator[asyncpg.Connection]:
    dsn = platform.infra.database_url("wallet").replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


async def test_a_wallet_changed_behind_the_ledger_is_reported_and_alerted(
    platform: Platform, client: LedgerlineClient, local_prometheus: PrometheusServer, wallet_db: asyncpg.Connection
) -> None:
    wallet_id = await funded_wallet(client, "drifting", "10.00")
    clean_before = await _ledger_metric(platform, "ledgerline_reconciliation_passes_total", outcome="clean")
    assert await eventually(lambda: _cleaner_than(platform, clean_before), timeout_s=REPORTED_WITHIN_S), (
        "no clean background pass on a platform at rest"
    )
    assert await _ledger_metric(platform, "ledgerline_reconciliation_mismatches", currency="EUR") == 0

    async def supply_matches_the_wallets() -> bool:
        held = await wallet_db.fetchval("SELECT sum(balance_minor) FROM wallets WHERE currency = 'EUR'")
        exported = await _ledger_metric(platform, "ledgerline_money_supply_minor", currency="EUR")
        return bool(held) and exported == held

    # The money supply the ledger exports is, at rest, what the EUR wallets hold.
    assert await eventually(supply_matches_the_wallets, timeout_s=REPORTED_WITHIN_S)

    changed = await wallet_db.execute(
        "UPDATE wallets SET balance_minor = balance_minor + $1 WHERE id = $2", DRIFT_MINOR, wallet_id
    )
    assert changed == "UPDATE 1"
    try:

        async def reported() -> float:
            return await _ledger_metric(platform, "ledgerline_reconciliation_mismatches", currency="EUR")

        assert await eventually(reported, timeout_s=REPORTED_WITHIN_S) == 1
        assert await _ledger_metric(platform, "ledgerline_reconciliation_passes_total", outcome="mismatched") >= 1
        report = await client.reconciliation()
        assert report["ok"] is False
        assert {
            "wallet_id": wallet_id,
            "currency": "EUR",
            "wallet_balance": "22.34",
            "ledger_balance": "10.00",
        } in report["mismatches"]
        assert minor("22.34") - minor("10.00") == DRIFT_MINOR

        expr = _alert_expr("LedgerlineReconciliationMismatch")
        firing = await eventually(lambda: _query(local_prometheus, expr), timeout_s=REPORTED_WITHIN_S)
        assert firing, f"{expr} stayed empty in Prometheus"
        assert {sample["metric"]["currency"] for sample in firing} == {"EUR"}  # type: ignore[index]
        assert float(firing[0]["value"][1]) == 1  # type: ignore[index]
        # The rule group evaluates on its own clock: the alert is pending from its next evaluation.
        alerts = 'ALERTS{alertname="LedgerlineReconciliationMismatch",currency="EUR"}'
        pending = await eventually(lambda: _query(local_prometheus, alerts), timeout_s=REPORTED_WITHIN_S)
        assert pending and pending[0]["metric"]["alertstate"] in {"pending", "firing"}  # type: ignore[index]
    finally:
        await wallet_db.execute(
            "UPDATE wallets SET balance_minor = balance_minor - $1 WHERE id = $2", DRIFT_MINOR, wallet_id
        )

    async def cleared() -> bool:
        return await _ledger_metric(platform, "ledgerline_reconciliation_mismatches", currency="EUR") == 0

    assert await eventually(cleared, timeout_s=REPORTED_WITHIN_S)
    last_clean = await _ledger_metric(platform, "ledgerline_reconciliation_last_clean_timestamp_seconds")
    assert time.time() - last_clean < REPORTED_WITHIN_S
    await assert_books_balance(client)


async def _cleaner_than(platform: Platform, clean_before: float) -> bool:
    return await _ledger_metric(platform, "ledgerline_reconciliation_passes_total", outcome="clean") > clean_before
