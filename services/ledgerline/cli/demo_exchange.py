"""The demo's cross-currency step: the operator sets the EUR to USD rate, alice asks for a quote
and pays 10.00 EUR into bob's dollar wallet at it; the quote rounds down to the cent, so bob
receives 10.85 USD for what is 10.8567 at the rate."""

from __future__ import annotations

from rich.console import Console

from ledgerline.client import LedgerlineClient

RATE = "1.08567"  # The bank simulator's feed has the same: a feed reload changes nothing.


async def show_exchange(console: Console, alice: LedgerlineClient, bob: LedgerlineClient) -> None:
    rate = await alice.set_rate("EUR", "USD", RATE)
    console.print(f"the operator sets 1 EUR = {rate['rate']} USD")
    payer = (await alice.open_wallet("alice", "EUR"))["id"]
    payee = (await bob.open_wallet("bob", "USD"))["id"]
    await alice.deposit(payer, "20.00", "EUR")
    quote = await alice.quote("EUR", "USD", "10.00")
    console.print(
        f"alice is quoted {quote['destination_amount']} USD for {quote['source_amount']} EUR"
        f" (rounded down to the cent), valid until {quote['expires_at']}"
    )
    exchange = await alice.exchange(payer, payee, quote["id"])
    console.print(
        f"alice sends bob {exchange['amount']} EUR from a new wallet of 20.00 EUR, received as"
        f" {exchange['destination_amount']} USD: [bold]{exchange['status']}[/]"
    )
    paid, received = await alice.get_wallet(payer), await bob.get_wallet(payee)
    console.print(
        f"alice's wallet holds {paid['balance']} EUR, bob's dollar wallet {received['balance']} USD;"
        f" the ledger entry has four postings through the FX accounts (fx:EUR, fx:USD)"
    )
