"""Reconciliation: ledger totals per currency, and every wallet against its ledger account.

Everything is read in pages of a bounded size, never in one read of every account: the ledger's
totals in keyset pages of one REPEATABLE READ snapshot (so the totals of a moving ledger still add
up exactly), the wallet service over HTTP, page by page, never through its tables. Comparing with
stored account balances is cheap; `verify_postings` also re-adds every posting (an audit).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerline.core.money import format_amount, parse_amount
from ledgerline.ledger.domain import AccountKind
from ledgerline.ledger.tables import accounts

# A wallet the wallet service lists is in the ledger once it has an account; the ledger may also
# hold a wallet account the wallet service does not list (a mismatch when it holds money).
MISSING_WALLET = "missing wallet"


@dataclass(frozen=True, slots=True)
class Mismatch:
    wallet_id: uuid.UUID
    currency: str
    wallet_minor: int | None  # None: the wallet service does not know the wallet.
    ledger_minor: int

    @property
    def difference_minor(self) -> int | None:
        return None if self.wallet_minor is None else self.wallet_minor - self.ledger_minor

    def view(self) -> dict[str, str]:
        wallet = MISSING_WALLET if self.wallet_minor is None else format_amount(self.wallet_minor, self.currency)
        return {
            "wallet_id": str(self.wallet_id),
            "currency": self.currency,
            "wallet_balance": wallet,
            "ledger_balance": format_amount(self.ledger_minor, self.currency),
        }


@dataclass
class Report:
    currency_totals: dict[str, int] = field(default_factory=dict)
    wallets_checked: int = 0
    # Every mismatch is counted; the first `listed_max` are kept with their figures.
    mismatch_counts: dict[str, int] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    unbalanced_entries: int | None = None
    drifted_accounts: int | None = None
    # The FX account's balance per currency: what cross-currency transfers took in (positive)
    # or paid out (negative) in it.
    fx_positions: dict[str, int] = field(default_factory=dict)
    # The wallet accounts' balances summed per currency: the money customers hold.
    money_supply: dict[str, int] = field(default_factory=dict)

    @property
    def mismatch_count(self) -> int:
        return sum(self.mismatch_counts.values())

    @property
    def unbalanced_currencies(self) -> list[str]:
        return sorted(currency for currency, total in self.currency_totals.items() if total != 0)

    @property
    def ok(self) -> bool:
        return (
            not self.unbalanced_currencies
            and self.mismatch_count == 0
            and not self.unbalanced_entries
            and not self.drifted_accounts
        )

    def add_mismatch(self, found: Mismatch, listed_max: int) -> None:
        self.mismatch_counts[found.currency] = self.mismatch_counts.get(found.currency, 0) + 1
        if len(self.mismatches) < listed_max:
            self.mismatches.append(found)


def compare_page(items: Sequence[Mapping[str, Any]], ledger_minor: Mapping[uuid.UUID, int]) -> list[Mismatch]:
    """The wallets of one page whose balance is not their ledger account's (0 before the first posting)."""
    found = []
    for item in items:
        wallet_id = uuid.UUID(item["id"])
        wallet_minor = parse_amount(item["balance"], item["currency"], allow_negative=True)
        in_ledger = ledger_minor.get(wallet_id, 0)
        if wallet_minor != in_ledger:
            found.append(Mismatch(wallet_id, item["currency"], wallet_minor, in_ledger))
    return found


async def currency_totals(connection: AsyncConnection, *, page_size: int) -> tuple[dict[str, int], dict[str, int]]:
    """Per currency, the sum of every account's balance (zero in whole books) and of the wallet
    accounts' (the money customers hold), over `page_size` accounts at a time."""
    totals: dict[str, int] = {}
    in_wallets: dict[str, int] = {}
    wallet_sum = func.sum(accounts.c.balance_minor).filter(accounts.c.kind == AccountKind.WALLET.value)
    after: uuid.UUID | None = None
    while True:
        following = select(accounts.c.id).order_by(accounts.c.id).offset(page_size - 1).limit(1)
        in_range = []
        if after is not None:
            following = following.where(accounts.c.id > after)
            in_range.append(accounts.c.id > after)
        last = await connection.scalar(following)
        if last is not None:
            in_range.append(accounts.c.id <= last)
        sums = select(accounts.c.currency, func.sum(accounts.c.balance_minor), wallet_sum).where(*in_range)
        for currency, total, held in await connection.execute(sums.group_by(accounts.c.currency)):
            totals[currency] = totals.get(currency, 0) + int(total)
            in_wallets[currency] = in_wallets.get(currency, 0) + int(held or 0)
        if last is None:
            return totals, in_wallets
        after = last


async def fx_positions(connection: AsyncConnection) -> dict[str, int]:
    """The FX account of each currency that has one (one row per currency: a bounded read)."""
    rows = await connection.execute(
        select(accounts.c.currency, accounts.c.balance_minor).where(accounts.c.kind == AccountKind.FX.value)
    )
    return {currency: int(balance) for currency, balance in rows}


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


async def ledger_balances(connection: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await connection.execute(select(accounts.c.id, accounts.c.balance_minor).where(accounts.c.id.in_(ids)))
    return {account_id: int(balance) for account_id, balance in rows}


async def compare_wallets(
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    report: Report,
    *,
    page_size: int,
    listed_max: int,
) -> None:
    """Walk the wallet service's wallets in id order, one page at a time, against the ledger.

    Wallets and ledger accounts share ids and both are listed in id order, so the ledger's
    wallet accounts between two pages' last ids that the page does not name are accounts without
    a wallet: found per page, with no set of every id seen.
    """
    cursor: str | None = None
    after: uuid.UUID | None = None
    while True:
        params = {"limit": str(page_size)} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/wallets", params=params)
        response.raise_for_status()
        page = response.json()
        ids = [uuid.UUID(item["id"]) for item in page["items"]]
        for found in compare_page(page["items"], await ledger_balances(connection, ids)):
            report.add_mismatch(found, listed_max)
        report.wallets_checked += len(ids)
        cursor = page.get("next_cursor")
        last = ids[-1] if ids and cursor else None
        await _accounts_without_wallet(connection, report, after=after, upto=last, listed=ids, listed_max=listed_max)
        if last is None:
            return
        after = last


async def _accounts_without_wallet(
    connection: AsyncConnection,
    report: Report,
    *,
    after: uuid.UUID | None,
    upto: uuid.UUID | None,
    listed: Sequence[uuid.UUID],
    listed_max: int,
) -> None:
    """Wallet accounts holding money in (after, upto] that the page did not list (upto None: no end)."""
    where = [accounts.c.kind == AccountKind.WALLET.value, accounts.c.balance_minor != 0]
    if after is not None:
        where.append(accounts.c.id > after)
    if upto is not None:
        where.append(accounts.c.id <= upto)
    if listed:
        where.append(accounts.c.id.not_in(listed))
    condition = and_(*where)
    counts = await connection.execute(
        select(accounts.c.currency, func.count()).where(condition).group_by(accounts.c.currency)
    )
    orphans = 0
    for currency, count in counts:
        report.mismatch_counts[currency] = report.mismatch_counts.get(currency, 0) + int(count)
        orphans += int(count)
    room = listed_max - len(report.mismatches)
    if room <= 0 or orphans == 0:
        return
    shown = await connection.execute(
        select(accounts.c.id, accounts.c.currency, accounts.c.balance_minor)
        .where(condition)
        .order_by(accounts.c.id)
        .limit(room)
    )
    for account_id, currency, balance in shown:
        report.mismatches.append(Mismatch(account_id, currency, None, int(balance)))


def totals_view(report: Report) -> list[dict[str, object]]:
    return [
        {
            "currency": currency,
            "total": format_amount(total, currency),
            "balanced": total == 0,
            "fx_position": format_amount(report.fx_positions.get(currency, 0), currency),
        }
        for currency, total in sorted(report.currency_totals.items())
    ]


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only REPEATABLE READ transaction: every page reads the ledger as of one moment."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with connection.begin():
            await connection.execute(text("SET TRANSACTION READ ONLY"))
            yield connection


async def run_pass(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    *,
    page_size: int,
    listed_max: int,
    verify: bool = False,
) -> Report:
    """One reconciliation. The totals (and the audit) read one snapshot, which takes no HTTP call
    and ends quickly; the wallet walk reads each page as committed, holding no snapshot open for
    as long as the wallet service takes to list every wallet (the recheck absorbs what moves)."""
    report = Report()
    async with snapshot(engine) as connection:
        report.currency_totals, report.money_supply = await currency_totals(connection, page_size=page_size)
        report.fx_positions = await fx_positions(connection)
        if verify:
            report.unbalanced_entries, report.drifted_accounts = await verify_postings(connection)
    async with engine.connect() as connection:
        await compare_wallets(connection, client, report, page_size=page_size, listed_max=listed_max)
    return report
