"""Read the live databases, read-only and a page at a time, and run every check on what is read.

Each database is read in one REPEATABLE READ, read-only transaction, so each sees one snapshot;
the three snapshots are taken one after the other, so the checker is exact on a platform at
rest and may report payments in flight as differences on a busy one (run it again to tell a
passing difference from a lasting one).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from ledgerline.core.db import async_database_url
from ledgerline.verify import checks as k
from ledgerline.verify.report import Report

PAGE_SIZE_MAX = 10_000
FINDINGS_KEPT_MAX = 10_000
# A statement longer than this is a checker stuck on a lock or a server in trouble, not work.
STATEMENT_TIMEOUT_S = 900
Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the books are: the wallet, ledger and payment databases (plain or asyncpg URLs)."""

    wallet_url: str
    ledger_url: str
    payment_url: str

    @classmethod
    def on_server(cls, url: str) -> Sources:
        """The databases on the PostgreSQL server of `url` (any database), named as the launcher names them."""
        server = url.rsplit("/", 1)[0]
        return cls(*(f"{server}/ledgerline_{service}" for service in ("wallet", "ledger", "payment")))


@dataclass(frozen=True, slots=True)
class Limits:
    page_size: int = 1_000
    findings_kept_max: int = 50  # Per check; every finding is counted, only these are listed.
    stale_after_s: float = 600.0  # A payment in flight longer than this is reported.

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= PAGE_SIZE_MAX:
            raise ValueError(f"page_size must be within 1..{PAGE_SIZE_MAX}, got {self.page_size}")
        if not 0 <= self.findings_kept_max <= FINDINGS_KEPT_MAX:
            raise ValueError(f"findings_kept_max must be within 0..{FINDINGS_KEPT_MAX}")
        if self.stale_after_s <= 0:
            raise ValueError("stale_after_s must be positive")


@asynccontextmanager
async def read_only(url: str) -> AsyncIterator[AsyncConnection]:
    # The server refuses any write in these sessions, whatever credentials the URL carries.
    settings = {
        "default_transaction_read_only": "on",
        "statement_timeout": f"{STATEMENT_TIMEOUT_S}s",
        "application_name": "ledgerline-verify",
    }
    engine = create_async_engine(
        async_database_url(url), poolclass=NullPool, connect_args={"server_settings": settings}
    )
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                yield connection
    finally:
        await engine.dispose()


async def pages(
    fetch: Callable[[Any, int], Awaitable[Sequence[Row]]], key: Callable[[Row], Any], page_size: int
) -> AsyncIterator[Sequence[Row]]:
    """Keyset pages: each fetch starts after the last key of the page before."""
    after: Any = None
    while True:
        page = await fetch(after, page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        after = key(page[-1])


def _after(after: uuid.UUID | None) -> uuid.UUID:
    return after or uuid.UUID(int=0)


def _keyset_pages(
    connection: AsyncConnection,
    sql: str,
    make: Callable[[Any], Row],
    key: Callable[[Row], uuid.UUID],
    page_size: int,
    **params: Any,
) -> AsyncIterator[Sequence[Row]]:
    """Pages of `sql`'s rows, each made by `make`: the statement takes the keys `> :after`, in
    key order, `LIMIT :size`."""

    async def fetch(after: uuid.UUID | None, size: int) -> Sequence[Row]:
        rows = await _rows(connection, sql, after=_after(after), size=size, **params)
        return [make(row) for row in rows]

    return pages(fetch, key, page_size)


async def verify(sources: Sources, limits: Limits = Limits()) -> Report:
    report = Report.empty(limits.findings_kept_max, limits.stale_after_s)
    async with (
        read_only(sources.wallet_url) as wallets,
        read_only(sources.ledger_url) as ledger,
        read_only(sources.payment_url) as payments,
    ):
        await _ledger_checks(ledger, report, limits)
        await _wallet_checks(wallets, ledger, report, limits)
        await _hold_checks(wallets, payments, report, limits)
        await _payment_checks(payments, ledger, report, limits)
    return report


async def _rows(connection: AsyncConnection, sql: str, **params: Any) -> Sequence[Any]:
    return (await connection.execute(text(sql), params)).all()


async def _ledger_checks(ledger: AsyncConnection, report: Report, limits: Limits) -> None:
    totals = await _rows(ledger, "SELECT currency, sum(balance_minor) FROM accounts GROUP BY currency")
    report.tally(k.Check.LEDGER_BALANCED).add(k.ledger_balanced({c: int(t) for c, t in totals}), len(totals))
    kept = limits.findings_kept_max
    # count(*) OVER () counts every offender although only `kept` are listed.
    unbalanced = await _rows(
        ledger,
        "SELECT entry_id, count(*) OVER () FROM postings GROUP BY entry_id, currency "
        "HAVING sum(amount_minor) <> 0 LIMIT :kept",
        kept=kept,
    )
    drifted = await _rows(
        ledger,
        "SELECT a.id, count(*) OVER () FROM accounts a LEFT JOIN (SELECT account_id, sum(amount_minor) AS total "
        "FROM postings GROUP BY account_id) p ON p.account_id = a.id "
        "WHERE a.balance_minor <> coalesce(p.total, 0) LIMIT :kept",
        kept=kept,
    )
    tally = report.tally(k.Check.POSTINGS_CONSISTENT)
    tally.add(k.postings_consistent([r[0] for r in unbalanced], [r[0] for r in drifted]))
    # Offenders past the listed ones are counted, not listed.
    tally.found += sum(int(rows[0][1]) - len(rows) for rows in (unbalanced, drifted) if rows)
    tally.checked += int(await ledger.scalar(text("SELECT count(*) FROM accounts")) or 0)


async def _wallet_checks(wallets: AsyncConnection, ledger: AsyncConnection, report: Report, limits: Limits) -> None:
    walk = _keyset_pages(
        wallets,
        "SELECT id, currency, balance_minor, held_minor, overdraft_limit_minor FROM wallets "
        "WHERE id > :after ORDER BY id LIMIT :size",
        lambda row: k.WalletRow(*row),
        lambda w: w.id,
        limits.page_size,
    )
    reconciled, held = report.tally(k.Check.WALLETS_RECONCILED), report.tally(k.Check.HELD_WITHIN_BALANCE)
    async for page in walk:
        ids = [w.id for w in page]
        ledger_minor = dict(await _rows(ledger, "SELECT id, balance_minor FROM accounts WHERE id = ANY(:ids)", ids=ids))
        live = await _rows(
            wallets,
            "SELECT wallet_id, sum(amount_minor) FROM holds WHERE status = :held AND wallet_id = ANY(:ids) "
            "GROUP BY wallet_id",
            held=k.LIVE_HOLD,
            ids=ids,
        )
        reconciled.add(k.wallets_reconciled(page, ledger_minor), len(page))
        held.add(k.held_within_balance(page, {w: int(m) for w, m in live}), len(page))
        for w in page:
            report.wallet_minor[w.currency] = report.wallet_minor.get(w.currency, 0) + w.balance_minor
    await _accounts_without_wallet(wallets, ledger, reconciled, limits)


async def _accounts_without_wallet(
    wallets: AsyncConnection, ledger: AsyncConnection, tally: k.Tally, limits: Limits
) -> None:
    walk = _keyset_pages(
        ledger,
        "SELECT id, currency, balance_minor FROM accounts WHERE kind = 'wallet' AND id > :after "
        "ORDER BY id LIMIT :size",
        lambda row: row,
        lambda row: row[0],
        limits.page_size,
    )
    async for page in walk:
        ids = [row[0] for row in page]
        known = {row[0] for row in await _rows(wallets, "SELECT id FROM wallets WHERE id = ANY(:ids)", ids=ids)}
        tally.add(k.ledger_accounts_without_wallet({r[0]: (r[1], int(r[2])) for r in page}, known))


async def _hold_checks(wallets: AsyncConnection, payments: AsyncConnection, report: Report, limits: Limits) -> None:
    walk = _keyset_pages(
        wallets,
        "SELECT payment_id, wallet_id, amount_minor FROM holds WHERE status = :held AND payment_id > :after "
        "ORDER BY payment_id LIMIT :size",
        lambda row: k.HoldRow(*row),
        lambda h: h.payment_id,
        limits.page_size,
        held=k.LIVE_HOLD,
    )
    tally = report.tally(k.Check.HOLDS_LIVE)
    async for page in walk:
        ids = [h.payment_id for h in page]
        status = dict(await _rows(payments, "SELECT id, status FROM payments WHERE id = ANY(:ids)", ids=ids))
        tally.add(k.holds_live(page, status), len(page))


async def _payment_checks(payments: AsyncConnection, ledger: AsyncConnection, report: Report, limits: Limits) -> None:
    moved = await _rows(
        payments,
        "SELECT type, currency, sum(amount_minor) FROM payments WHERE status = 'COMPLETED' "
        f"AND type IN ({', '.join(repr(t) for t in (*k.MONEY_IN, *k.MONEY_OUT))}) GROUP BY type, currency",
    )
    deposited: dict[str, int] = {}
    withdrawn: dict[str, int] = {}
    for type_, cur, total in moved:
        into = deposited if type_ in k.MONEY_IN else withdrawn
        into[cur] = into.get(cur, 0) + int(total)
    # A cross-currency transfer takes money out of wallets in one currency and into wallets in another.
    exchanged = await _rows(
        payments,
        "SELECT currency, destination_currency, sum(amount_minor), sum(destination_amount_minor) FROM payments "
        "WHERE status = 'COMPLETED' AND destination_currency IS NOT NULL AND destination_currency <> currency "
        "GROUP BY currency, destination_currency",
    )
    for paid_in, received_in, paid, received in exchanged:
        withdrawn[paid_in] = withdrawn.get(paid_in, 0) + int(paid)
        deposited[received_in] = deposited.get(received_in, 0) + int(received)
    supply = report.tally(k.Check.MONEY_SUPPLY)
    supply.add(k.money_supply(report.wallet_minor, deposited, withdrawn), len(report.wallet_minor))
    now = await payments.scalar(text("SELECT now()"))
    bound = timedelta(seconds=limits.stale_after_s)

    walk = _keyset_pages(
        payments,
        "SELECT id, type, status, created_at FROM payments WHERE id > :after ORDER BY id LIMIT :size",
        lambda row: k.PaymentRow(*row),
        lambda p: p.id,
        limits.page_size,
    )
    once, settled = report.tally(k.Check.ENTRY_ONCE), report.tally(k.Check.PAYMENTS_SETTLED)
    async for page in walk:
        ids = [p.id for p in page]
        counts = await _rows(
            ledger,
            "SELECT payment_id, count(*) FROM journal_entries WHERE payment_id = ANY(:ids) GROUP BY payment_id",
            ids=ids,
        )
        once.add(k.entry_once(page, {p: int(n) for p, n in counts}), len(page))
        settled.add(k.payments_settled(page, now, bound), len(page))
    await _entries_without_payment(payments, ledger, once, limits)


async def _entries_without_payment(
    payments: AsyncConnection, ledger: AsyncConnection, tally: k.Tally, limits: Limits
) -> None:
    walk = _keyset_pages(
        ledger,
        "SELECT DISTINCT payment_id FROM journal_entries WHERE payment_id > :after ORDER BY payment_id LIMIT :size",
        lambda row: row[0],
        lambda p: p,
        limits.page_size,
    )
    async for page in walk:
        known = {r[0] for r in await _rows(payments, "SELECT id FROM payments WHERE id = ANY(:ids)", ids=list(page))}
        tally.add(k.entries_without_payment(page, known))
