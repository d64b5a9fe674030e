"""Continuous reconciliation: the ledger service checks itself in the background and says so in
its metrics, so the alerts page on the state of the books rather than on whoever last asked.

A pass reads the ledger and the wallets page by page (`reconciliation.run_pass`). A payment in
flight moves a wallet's ledger account a moment before the wallet itself (the entry is posted
before the hold is settled), so a wallet that differs is read again after
`reconciliation_recheck_delay_s` and counts as a mismatch only if it still differs by the same
amount. A ledger that does not sum to zero needs no second look: the pass reads one snapshot, in
which every entry is either wholly there or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import httpx
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.money import parse_amount
from ledgerline.core.telemetry import tracer
from ledgerline.core.transient import is_transient
from ledgerline.ledger import reconciliation
from ledgerline.ledger.reconciliation import Mismatch, Report
from ledgerline.ledger.settings import LedgerSettings

_log = logging.getLogger(__name__)
# Wallets re-read at once during a recheck: bounded, so a pass with many candidates does not
# open hundreds of connections to the wallet service.
RECHECK_CONCURRENCY_MAX = 8
PASS_OUTCOMES = ("clean", "mismatched", "unbalanced", "failed")

MISMATCHES = Gauge(
    "ledgerline_reconciliation_mismatches",
    "Wallets whose balance differs from their ledger account, confirmed by a second read",
    ["currency"],
)
UNBALANCED = Gauge("ledgerline_reconciliation_unbalanced_currencies", "Currencies whose ledger does not sum to zero")
LAST_CLEAN = Gauge(
    "ledgerline_reconciliation_last_clean_timestamp_seconds",
    "When the last pass that found the books whole ended (the service's start before the first)",
)
FX_POSITION = Gauge(
    "ledgerline_fx_position_minor",
    "Balance of the currency's FX account in minor units: taken in (positive) or paid out (negative)"
    " by cross-currency transfers",
    ["currency"],
)
MONEY_SUPPLY = Gauge(
    "ledgerline_money_supply_minor",
    "Money customers hold in minor units: the wallet accounts' balances in the ledger, summed per currency",
    ["currency"],
)
PASSES = Counter("ledgerline_reconciliation_passes_total", "Background reconciliation passes", ["outcome"])


def outcome_of(report: Report, confirmed: int) -> str:
    if report.unbalanced_currencies:
        return "unbalanced"
    return "mismatched" if confirmed else "clean"


def still_mismatched(first: Mismatch, wallet_minor: int | None, ledger_minor: int) -> bool:
    """The same wallet read again: it counts only if it still differs, and by the same amount
    (an account without a wallet: if it still holds money)."""
    if wallet_minor is None or first.wallet_minor is None:
        return wallet_minor is None and first.wallet_minor is None and ledger_minor != 0
    again = Mismatch(first.wallet_id, first.currency, wallet_minor, ledger_minor)
    return wallet_minor != ledger_minor and again.difference_minor == first.difference_minor


class Reconciler:
    def __init__(
        self, *, engine: AsyncEngine, settings: LedgerSettings, wallet_client: Callable[[], httpx.AsyncClient]
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._wallet_client = wallet_client  # Carries the service's own token: listing wallets is admin-only.
        for outcome in PASS_OUTCOMES:
            PASSES.labels(outcome)
        LAST_CLEAN.set(time.time())

    async def run(self) -> None:
        s = self._settings
        async with self._wallet_client() as client:
            while True:
                await self.run_once(client)
                await asyncio.sleep(s.reconciliation_interval_s)

    async def run_once(self, client: httpx.AsyncClient) -> str:
        """One pass and its recheck; the metrics say what it found. Returns the outcome."""
        # One trace per pass, holding its pages' SQL and HTTP spans when tracing is on.
        with tracer().start_as_current_span("ledger reconciliation") as span:
            outcome = await self._run_once(client)
            span.set_attribute("ledgerline.reconciliation.outcome", outcome)
            return outcome

    async def _run_once(self, client: httpx.AsyncClient) -> str:
        s = self._settings
        try:
            report = await reconciliation.run_pass(
                self._engine, client, page_size=s.reconciliation_page_size, listed_max=s.reconciliation_recheck_max
            )
            confirmed = await self._recheck(client, report) if report.mismatch_count else {}
        except Exception as exc:
            if not isinstance(exc, httpx.HTTPError) and not is_transient(exc):
                raise
            _log.warning("reconciliation pass failed: %s", exc)
            PASSES.labels("failed").inc()
            return "failed"
        UNBALANCED.set(len(report.unbalanced_currencies))
        for currency in set(report.currency_totals) | set(confirmed):
            MISMATCHES.labels(currency).set(confirmed.get(currency, 0))
        for currency in report.currency_totals:  # Zero in a currency no transfer exchanged yet.
            FX_POSITION.labels(currency).set(report.fx_positions.get(currency, 0))
            MONEY_SUPPLY.labels(currency).set(report.money_supply.get(currency, 0))
        outcome = outcome_of(report, sum(confirmed.values()))
        PASSES.labels(outcome).inc()
        if outcome == "clean":
            LAST_CLEAN.set(time.time())
        else:
            _log.error(
                "reconciliation %s: unbalanced currencies %s, confirmed mismatches %s",
                outcome,
                report.unbalanced_currencies,
                confirmed,
            )
        return outcome

    async def _recheck(self, client: httpx.AsyncClient, report: Report) -> dict[str, int]:
        """Confirmed mismatches per currency. Those beyond the listed ones cannot be read again and
        count as they were found: a bound on the work must not hide money that is wrong."""
        await asyncio.sleep(self._settings.reconciliation_recheck_delay_s)
        listed = report.mismatches
        unlisted = dict(report.mismatch_counts)
        for found in listed:
            unlisted[found.currency] -= 1
        wallets = await _read_wallets(client, [m for m in listed if m.wallet_minor is not None])
        async with self._engine.connect() as connection:
            ledger = await reconciliation.ledger_balances(connection, [m.wallet_id for m in listed])
        confirmed = {currency: count for currency, count in unlisted.items() if count}
        for first in listed:
            if still_mismatched(first, wallets.get(first.wallet_id), ledger.get(first.wallet_id, 0)):
                confirmed[first.currency] = confirmed.get(first.currency, 0) + 1
        return confirmed


async def _read_wallets(client: httpx.AsyncClient, mismatches: Sequence[Mismatch]) -> dict[object, int | None]:
    """Each wallet's balance now; None for a wallet the service no longer knows."""
    limit = asyncio.Semaphore(RECHECK_CONCURRENCY_MAX)

    async def read(found: Mismatch) -> tuple[object, int | None]:
        async with limit:
            response = await client.get(f"/v1/wallets/{found.wallet_id}")
        if response.status_code == 404:
            return found.wallet_id, None
        response.raise_for_status()
        body = response.json()
        return found.wallet_id, parse_amount(body["balance"], body["currency"], allow_negative=True)

    return dict(await asyncio.gather(*(read(m) for m in mismatches)))
