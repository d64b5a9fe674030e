"""The books after a workload: nothing created or destroyed, every wallet matching the ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ledgerline.bench.load import ApiClient
from ledgerline.core.money import parse_amount

WALLET_PAGE_SIZE = 500
# The ledger re-adds every posting and reads every wallet: minutes at a million wallets.
RECONCILIATION_TIMEOUT_S = 900.0


@dataclass(frozen=True, slots=True)
class BooksCheck:
    ledger_balanced: bool  # Every currency sums to zero, postings re-add to balances.
    wallets_reconciled: bool  # Every wallet's balance equals its ledger account.
    money_supply_minor: int  # Sum of the benchmark wallets' balances.
    expected_supply_minor: int  # Completed deposits minus completed withdrawals of the benchmark.
    held_minor: int  # Holds left on benchmark wallets at rest (must be 0).
    detail: str

    @property
    def ok(self) -> bool:
        return (
            self.ledger_balanced
            and self.wallets_reconciled
            and self.money_supply_minor == self.expected_supply_minor
            and self.held_minor == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


async def check_books(client: ApiClient, wallet_ids: set[str], expected_supply_minor: int) -> BooksCheck:
    report = await client.get_json(
        client.ledger_url + "/v1/reconciliation",
        {"verify_postings": "true"},
        timeout_s=RECONCILIATION_TIMEOUT_S,
        as_operator=True,
    )
    balanced = (
        all(line["balanced"] for line in report["currencies"])
        and report["unbalanced_entries"] == 0
        and report["drifted_accounts"] == 0
    )
    supply, held = 0, 0
    cursor: str | None = None
    while True:
        params = {"limit": str(WALLET_PAGE_SIZE)} | ({"cursor": cursor} if cursor else {})
        page = await client.get_json(client.wallet_url + "/v1/wallets", params, as_operator=True)
        for wallet in page["items"]:
            if wallet["id"] in wallet_ids:
                supply += parse_amount(wallet["balance"], wallet["currency"], allow_negative=True)
                held += parse_amount(wallet["held"], wallet["currency"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    detail = f"{report['mismatch_count']} mismatched wallets; totals {report['currencies']}"
    return BooksCheck(balanced, report["mismatch_count"] == 0, supply, expected_supply_minor, held, detail)
