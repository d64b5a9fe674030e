"""Move real money through the public API and check where it landed: the part of the helm test
that proves the services work together, before `verify` reads the books.

Two fresh wallets of the client's customer (`verify` registers one whose address starts with
`TEST_OWNER`, so they are recognisable as test wallets and never mistaken for a customer's): a
card deposit into the first, a transfer of part of it to the second, then each wallet and its
ledger account must show exactly the expected amounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ledgerline.client import LedgerlineClient, PaymentTimeout
from ledgerline.core.money import format_amount, parse_amount

TEST_OWNER = "ledgerline-helm-test"
DEPOSIT_MINOR = 100
TRANSFER_MINOR = 40
SETTLE_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Exercise:
    payer_id: str
    payee_id: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "payer_id": self.payer_id, "payee_id": self.payee_id, "problems": list(self.problems)}

    def describe(self) -> str:
        if self.ok:
            return f"[green]money moved[/]: deposit into {self.payer_id}, transfer to {self.payee_id}, balances exact"
        return "[red]moving money failed[/]: " + "; ".join(self.problems)


async def move_money(client: LedgerlineClient, currency: str = "EUR") -> Exercise:
    try:
        return await _move_money(client, currency)
    except (httpx.HTTPError, PaymentTimeout) as error:
        return Exercise("", "", (f"{type(error).__name__}: {error}",))


async def _move_money(client: LedgerlineClient, currency: str) -> Exercise:
    payer = (await client.open_wallet(TEST_OWNER, currency))["id"]
    payee = (await client.open_wallet(TEST_OWNER, currency))["id"]
    problems: list[str] = []
    deposit = await client.deposit(payer, format_amount(DEPOSIT_MINOR, currency), currency)
    if deposit["status"] != "COMPLETED":
        problems.append(f"deposit {deposit['id']} ended {deposit['status']} ({deposit.get('failure_reason')})")
    else:
        transfer = await client.transfer(payer, payee, format_amount(TRANSFER_MINOR, currency), currency)
        if transfer["status"] != "COMPLETED":
            problems.append(f"transfer {transfer['id']} ended {transfer['status']} ({transfer.get('failure_reason')})")
    expected = {payer: DEPOSIT_MINOR - TRANSFER_MINOR, payee: TRANSFER_MINOR} if not problems else {}
    for wallet_id, minor in expected.items():
        wallet = await client.get_wallet(wallet_id)
        account = await client.account(wallet_id)
        for where, shown in (("wallet", wallet["balance"]), ("ledger account", account["balance"])):
            if parse_amount(shown, currency, allow_negative=True) != minor:
                problems.append(f"{where} {wallet_id} shows {shown}, expected {format_amount(minor, currency)}")
    return Exercise(payer, payee, tuple(problems))
