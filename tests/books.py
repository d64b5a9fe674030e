"""Assertions on money that every end-to-end test ends with: `ledgerline verify` on the
platform's databases, plus small readers of balances."""

from __future__ import annotations

from ledgerline.client import LedgerlineClient
from ledgerline.core.money import parse_amount
from ledgerline.verify.checks import Check, Tally
from ledgerline.verify.reading import Limits, Sources, verify
from ledgerline.verify.report import Report

# The databases behind each platform the tests started, by the ledger URL its clients use, so
# a test needs only its client to check the books.
PLATFORM_DATABASES: dict[str, Sources] = {}
# The suite shares one platform for half an hour; a payment in flight for two minutes is stuck.
STALE_AFTER_S = 120.0
# Payments whose commands a test sent to the wallet and ledger itself, playing the payment
# service: their journal entries have no payment row by design, and nothing else is excused.
PLAYED_PAYMENTS: set[str] = set()


def played_payment(payment_id: object) -> None:
    PLAYED_PAYMENTS.add(str(payment_id))


def track_databases(ledger_url: str, postgres_url: str) -> None:
    """Remember the databases of the platform whose ledger answers at `ledger_url`.

    `postgres_url` is the URL of any database on its PostgreSQL server.
    """
    PLATFORM_DATABASES[ledger_url] = Sources.on_server(postgres_url)


async def assert_books_balance(client: LedgerlineClient) -> Report:
    """Every invariant of `ledgerline verify` holds on the platform behind `client`."""
    sources = PLATFORM_DATABASES.get(client.ledger_url)
    if sources is None:
        raise LookupError(f"no databases known for the platform at {client.ledger_url}; call track_databases")
    report = await verify(sources, Limits(stale_after_s=STALE_AFTER_S, findings_kept_max=1_000))
    wrong = [t for t in report.tallies.values() if not t.ok and not _played(t)]
    assert not wrong, report.summary()
    return report


def _played(tally: Tally) -> bool:
    return (
        tally.check == Check.ENTRY_ONCE
        and tally.found == len(tally.findings)
        and all(f.subject in PLAYED_PAYMENTS for f in tally.findings)
    )


def minor(amount: str, currency: str = "EUR") -> int:
    return parse_amount(amount, currency, allow_negative=True)


async def wallet_minor(client: LedgerlineClient, wallet_id: str) -> dict[str, int]:
    wallet = await client.get_wallet(wallet_id)
    return {key: minor(wallet[key], wallet["currency"]) for key in ("balance", "held", "available")}


async def funded_wallet(client: LedgerlineClient, owner: str, amount: str, currency: str = "EUR") -> str:
    wallet = await client.open_wallet(owner, currency)
    if minor(amount, currency) > 0:
        deposit = await client.deposit(wallet["id"], amount, currency)
        assert deposit["status"] == "COMPLETED", deposit
    return str(wallet["id"])
