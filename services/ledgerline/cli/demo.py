"""`ledgerline demo`, through the one entry point: two customers register and log in, then a
deposit, a transfer, a partial refund and a withdrawal, each made by the customer whose money
moves; the operator (an admin client) runs the reconciliation. Then cashback: the operator's rule
rewards a transfer, and the reward is credited (`demo_cashback`). Then a cross-currency transfer
at a quoted rate (`demo_exchange`)."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from ledgerline.cli.demo_cashback import show_cashback
from ledgerline.cli.demo_exchange import show_exchange
from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.core.access_tokens import ClientCredentials


def run_demo(console: Console, *, url: str, operator_credentials: tuple[str, str]) -> None:
    """Everything through `url`, the platform's one entry point: logins, wallets, payments, the ledger."""

    async def demo() -> None:
        operator = ClientCredentials(url, *operator_credentials)
        alice, bob = [
            LedgerlineClient(url, url, url, auth=customer, operator=operator)
            for customer in (await register_customer(url), await register_customer(url))
        ]
        try:
            await _demo(console, alice, bob)
            await show_cashback(console, url, operator, alice, bob)
            await show_exchange(console, alice, bob)
        finally:
            await alice.aclose()
            await bob.aclose()

    asyncio.run(demo())


async def _demo(console: Console, alice: LedgerlineClient, bob: LedgerlineClient) -> None:
    console.print(f"registered and logged in alice ({alice.user_id}) and bob ({bob.user_id})")
    alice_wallet = (await alice.open_wallet())["id"]
    bob_wallet = (await bob.open_wallet())["id"]
    console.print(f"each opened a wallet: alice {alice_wallet}, bob {bob_wallet}")
    deposit = await alice.deposit(alice_wallet, "100.00")
    console.print(f"alice deposits 100.00 EUR by card: [bold]{deposit['status']}[/]")
    transfer = await alice.transfer(alice_wallet, bob_wallet, "30.00")
    console.print(f"alice sends bob 30.00 EUR: [bold]{transfer['status']}[/]")
    refund = await bob.refund(transfer["id"], "5.00")
    console.print(f"bob refunds 5.00 EUR of that transfer: [bold]{refund['status']}[/]")
    withdrawal = await bob.withdraw(bob_wallet, "10.00")
    console.print(f"bob withdraws 10.00 EUR to his bank: [bold]{withdrawal['status']}[/]")
    overdraw = await bob.transfer(bob_wallet, alice_wallet, "1000.00")
    console.print(f"bob tries to send 1000.00 EUR: [bold]{overdraw['status']}[/] ({overdraw['failure_reason']})")
    stolen = await bob.post_payment(
        "/v1/transfers",
        {"source_wallet_id": alice_wallet, "destination_wallet_id": bob_wallet, "amount": "1.00", "currency": "EUR"},
    )
    console.print(f"bob tries to take 1.00 EUR out of alice's wallet: [bold]{stolen.status_code}[/] (not his wallet)")
    await _balances(console, {"alice": (alice, alice_wallet), "bob": (bob, bob_wallet)})
    await _entries(console, alice, "alice", alice_wallet)
    report = await alice.reconciliation()
    verdict = "[green]reconciled[/]" if report["ok"] else "[red]NOT reconciled[/]"
    console.print(f"ledger totals {report['currencies']}; {report['wallets_checked']} wallets checked: {verdict}")


async def _balances(console: Console, wallets: dict[str, tuple[LedgerlineClient, str]]) -> None:
    table = Table(title="Balances (each as its owner sees it)")
    for column in ("holder", "balance", "held", "available", "ledger account"):
        table.add_column(column, justify="right")
    for holder, (client, wallet_id) in wallets.items():
        wallet = await client.get_wallet(wallet_id)
        account = await client.account(wallet_id)
        table.add_row(holder, wallet["balance"], wallet["held"], wallet["available"], account["balance"])
    console.print(table)


async def _entries(console: Console, client: LedgerlineClient, holder: str, wallet_id: str) -> None:
    table = Table(title=f"Ledger postings of {holder}'s account (newest first)")
    for column in ("#", "description", "amount", "balance after"):
        table.add_column(column)
    page = await client.entries(wallet_id, limit=20)
    for item in page["items"]:
        table.add_row(str(item["sequence"]), item["description"], item["amount"], item["balance_after"])
    console.print(table)
