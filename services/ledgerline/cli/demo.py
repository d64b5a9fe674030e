"""`ledgerline demo`, through the one entry point: two customers register and log in, then a
deposit, a transfer, a partial refund, a withdrawal and a cross-currency transfer at a quoted
rate, each made by the customer whose money moves; the operator (an admin client) sets the
exchange rate and runs the reconciliation."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.core.access_tokens import ClientCredentials

# 10.00 EUR at this rate is 10.8567 USD: bob receives 10.85, the rounding shows.
DEMO_RATE = "1.08567"


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
    bob_usd_wallet = await _exchange(console, alice, bob, alice_wallet)
    holders = {"alice": (alice, alice_wallet), "bob": (bob, bob_wallet), "bob (USD)": (bob, bob_usd_wallet)}
    await _balances(console, holders)
    await _entries(console, alice, "alice", alice_wallet)
    report = await alice.reconciliation()
    verdict = "[green]reconciled[/]" if report["ok"] else "[red]NOT reconciled[/]"
    console.print(f"ledger totals {report['currencies']}; {report['wallets_checked']} wallets checked: {verdict}")


async def _exchange(console: Console, alice: LedgerlineClient, bob: LedgerlineClient, alice_wallet: str) -> str:
    """The operator sets a rate; alice pays 10.00 EUR into bob's USD wallet at a quote. Returns that wallet."""
    rate = await alice.set_rate("EUR", "USD", DEMO_RATE)
    console.print(f"the operator sets 1 EUR = {rate['rate']} USD")
    bob_usd_wallet = str((await bob.open_wallet(currency="USD"))["id"])
    quote = await alice.quote("EUR", "USD", "10.00")
    console.print(
        f"alice is quoted {quote['destination_amount']} USD for {quote['source_amount']} EUR"
        f" (rounded down to the cent), valid until {quote['expires_at']}"
    )
    exchange = await alice.exchange(alice_wallet, bob_usd_wallet, quote["id"])
    console.print(
        f"alice sends bob {exchange['amount']} EUR, received as {exchange['destination_amount']} USD:"
        f" [bold]{exchange['status']}[/]"
    )
    return bob_usd_wallet


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
