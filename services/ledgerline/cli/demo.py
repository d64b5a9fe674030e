"""`ledgerline demo`: two customers, a deposit, a transfer, a partial refund and a withdrawal."""

from __future__ import annotations

import asyncio
import uuid

from rich.console import Console
from rich.table import Table

from ledgerline.client import LedgerlineClient


def run_demo(console: Console, *, payment_url: str, wallet_url: str, ledger_url: str) -> None:
    asyncio.run(_demo(console, LedgerlineClient(wallet_url, ledger_url, payment_url)))


async def _demo(console: Console, client: LedgerlineClient) -> None:
    try:
        run = uuid.uuid4().hex[:6]
        alice = await client.open_wallet(f"alice-{run}")
        bob = await client.open_wallet(f"bob-{run}")
        console.print(f"opened wallets for alice ({alice['id']}) and bob ({bob['id']})")
        steps = [
            ("alice deposits 100.00 EUR by card", client.deposit(alice["id"], "100.00")),
            ("alice sends bob 30.00 EUR", client.transfer(alice["id"], bob["id"], "30.00")),
        ]
        payments = []
        for label, step in steps:
            payment = await step
            payments.append(payment)
            console.print(f"{label}: [bold]{payment['status']}[/]")
        refund = await client.refund(payments[1]["id"], "5.00")
        console.print(f"bob refunds 5.00 EUR of that transfer: [bold]{refund['status']}[/]")
        withdrawal = await client.withdraw(bob["id"], "10.00")
        console.print(f"bob withdraws 10.00 EUR to his bank: [bold]{withdrawal['status']}[/]")
        overdraw = await client.transfer(bob["id"], alice["id"], "1000.00")
        console.print(f"bob tries to send 1000.00 EUR: [bold]{overdraw['status']}[/] ({overdraw['failure_reason']})")
        await _balances(console, client, {"alice": alice["id"], "bob": bob["id"]})
        await _entries(console, client, "alice", alice["id"])
        report = await client.reconciliation()
        verdict = "[green]reconciled[/]" if report["ok"] else "[red]NOT reconciled[/]"
        console.print(f"ledger totals {report['currencies']}; {report['wallets_checked']} wallets checked: {verdict}")
    finally:
        await client.aclose()


async def _balances(console: Console, client: LedgerlineClient, wallets: dict[str, str]) -> None:
    table = Table(title="Balances")
    for column in ("holder", "balance", "held", "available", "ledger account"):
        table.add_column(column, justify="right")
    for holder, wallet_id in wallets.items():
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
