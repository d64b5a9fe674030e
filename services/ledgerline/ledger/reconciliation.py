"""Reconciliation: ledger totals per currency, and every wallet against its ledger account.

The wallet service is read over HTTP, page by page, never through its tables. Comparing with
stored account balances is cheap; `verify_postings` also re-adds every posting (an audit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
from prometheus_client import Gauge
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.money import format_amount, parse_amount
from ledgerline.ledger.domain import AccountKind
from ledgerline.ledger.tables import accounts

MISMATCHES = Gauge(
    "ledgerline_reconciliation_mismatches", "Wallets whose balance differs from the ledger", ["currency"]
)
UNBALANCED = Gauge("ledgerline_reconciliation_unbalanced_currencies", "Currencies whose ledger does not sum to zero")


@dataclass
class Report:
    currency_totals: dict[str, int] = field(default_factory=dict)
    wallets_checked: int = 0
    mismatches: list[dict[str, str]] = field(default_factory=list)
    mismatch_count: int = 0
    unbalanced_entries: int | None = None
    drifted_accounts: int | None = None

    @property
    def ok(self) -> bool:
        return (
            all(total == 0 for total in self.currency_totals.values())
            and self.mismatch_count == 0
            and not self.unbalanced_entries
            and not self.drifted_accounts
        )


async def currency_totals(connection: AsyncConnection) -> dict[str, int]:
    rows = await connection.execute(
        select(accounts.c.currency, func.sum(accounts.c.balance_minor)).group_by(accounts.c.currency)
    )
    return {currency: int(total) for currency, total in rows}


async def verify_postings(connection: AsyncConnection) -> tuple[int, int]:
    """Entries whose postings do not sum to zero, and accounts whose balance is not their postings' sum."""
    unbalanced = await connection.scalar(
        text(
            "SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id, currency "
            "HAVING sum(amount_minor) <> 0) AS bad"
        )
    )
    drifted = await connection.scalar(
        text(
            "SELECT count(*) FROM accounts a LEFT JOIN (SELECT account_id, sum(amount_minor) AS total "
            "FROM postings GROUP BY account_id) p ON p.account_id = a.id "
            "WHERE a.balance_minor <> coalesce(p.total, 0)"
        )
    )
    return int(unbalanced or 0), int(drifted or 0)


async def compare_wallets(
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    report: Report,
    *,
    page_size: int,
    listed_max: int,
) -> None:
    cursor: str | None = None
    seen: set[uuid.UUID] = set()
    mismatched_by_currency: dict[str, int] = {}
    while True:
        params = {"limit": str(page_size)} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/wallets", params=params)
        response.raise_for_status()
        page = response.json()
        ids = [uuid.UUID(item["id"]) for item in page["items"]]
        ledger = dict(
            (
                await connection.execute(select(accounts.c.id, accounts.c.balance_minor).where(accounts.c.id.in_(ids)))
            ).all()
        )
        for item, wallet_id in zip(page["items"], ids, strict=True):
            seen.add(wallet_id)
            wallet_minor = parse_amount(item["balance"], item["currency"], allow_negative=True)
            ledger_minor = int(ledger.get(wallet_id, 0))
            if wallet_minor != ledger_minor:
                _mismatch(report, mismatched_by_currency, item, ledger_minor, listed_max)
        report.wallets_checked += len(ids)
        cursor = page.get("next_cursor")
        if not cursor:
            break
    orphans = await connection.execute(
        select(accounts.c.id, accounts.c.currency, accounts.c.balance_minor).where(
            accounts.c.kind == AccountKind.WALLET.value
        )
    )
    for account_id, currency, balance in orphans:
        if account_id not in seen and balance != 0:
            item = {"id": str(account_id), "currency": currency, "balance": "missing wallet"}
            _mismatch(report, mismatched_by_currency, item, int(balance), listed_max)
    for currency in set(report.currency_totals) | set(mismatched_by_currency):
        MISMATCHES.labels(currency).set(mismatched_by_currency.get(currency, 0))


def _mismatch(report: Report, counts: dict[str, int], item: dict[str, str], ledger_minor: int, listed_max: int) -> None:
    report.mismatch_count += 1
    counts[item["currency"]] = counts.get(item["currency"], 0) + 1
    if len(report.mismatches) < listed_max:
        report.mismatches.append(
            {
                "wallet_id": item["id"],
                "currency": item["currency"],
                "wallet_balance": item["balance"],
                "ledger_balance": format_amount(ledger_minor, item["currency"]),
            }
        )


def totals_view(report: Report) -> list[dict[str, object]]:
    UNBALANCED.set(sum(1 for total in report.currency_totals.values() if total != 0))
    return [
        {"currency": currency, "total": format_amount(total, currency), "balanced": total == 0}
        for currency, total in sorted(report.currency_totals.items())
    ]
