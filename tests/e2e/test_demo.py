"""`ledgerline demo` through the platform's one entry point, authentication on: two customers register and
log in, each moves only their own money, the attempt to take the other's is refused with 404,
the operator's reconciliation finds the books balanced, the operator's cashback rule credits
a reward after a transfer, and a transfer from euros into dollars at a quote receives the quoted
amount, rounded down to the cent."""

from __future__ import annotations

import io

from rich.console import Console

from ledgerline.cli.demo import run_demo
from ledgerline.infra.platform import Platform


def test_the_demo_moves_money_as_its_owners_and_reconciles(platform: Platform) -> None:
    output = io.StringIO()
    run_demo(
        Console(file=output, width=1000),
        url=platform.entry_point,
        operator_credentials=platform.operator_credentials,
    )
    text = output.getvalue()
    for step in ("alice deposits 100.00 EUR by card: COMPLETED", "alice sends bob 30.00 EUR: COMPLETED"):
        assert step in text, text
    assert "bob refunds 5.00 EUR of that transfer: COMPLETED" in text, text
    assert "bob withdraws 10.00 EUR to his bank: COMPLETED" in text, text
    assert "bob tries to send 1000.00 EUR: FAILED (insufficient_funds)" in text, text
    assert "bob tries to take 1.00 EUR out of alice's wallet: 404" in text, text
    assert "wallets checked: reconciled" in text, text
    # alice: 100.00 - 30.00 + 5.00; bob: 30.00 - 5.00 - 10.00, the wallet and its ledger account alike.
    assert text.count("75.00") >= 2 and text.count("15.00") >= 2, text
    # Cashback in its own currency: 1% of 50.00 CHF, credited to alice's 50.00 CHF left.
    assert "alice deposits 100.00 CHF and sends bob 50.00 CHF: COMPLETED" in text, text
    assert "cashback credited to alice: 0.50 CHF (paid" in text and "her wallet holds 50.50 CHF" in text, text
    # 10.00 EUR at 1.08567 is 10.8567 USD: bob receives 10.85.
    assert "alice is quoted 10.85 USD for 10.00 EUR" in text, text
    assert "received as 10.85 USD: COMPLETED" in text, text
    assert "alice's wallet holds 10.00 EUR, bob's dollar wallet 10.85 USD" in text, text
