"""Assertions on money that every end-to-end test ends with."""

from __future__ import annotations

from typing import Any

from ledgerline.client import LedgerlineClient
from ledgerline.core.money import parse_amount


async def assert_books_balance(client: LedgerlineClient) -> dict[str, Any]:
    """The ledger sums to zero per currency, postings re-add to balances, every wallet reconciles."""
    report = await client.reconciliation(verify_postings=True)
    for line in report["currencies"]:
        assert parse_amount(line["total"], line["currency"], allow_negative=True) == 0, line
    assert report["unbalanced_entries"] == 0, report
    assert report["drifted_accounts"] == 0, report
    assert report["mismatch_count"] == 0, report["mismatches"]
    assert report["ok"] is True
    return report


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
