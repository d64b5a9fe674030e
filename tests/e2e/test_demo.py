"""`ledgerline demo` through the platform's one entry point, authentication on: two customers register and
log in, each moves only their own money (one of them across currencies at a quoted rate), the
attempt to take the other's is refused with 404, and the operator's reconciliation finds the
books balanced."""

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
    assert "alice is quoted 10.85 USD for 10.00 EUR" in text, text
    assert "alice sends bob 10.00 EUR, received as 10.85 USD: COMPLETED" in text, text
    assert "wallets checked: reconciled" in text, text
    # alice: 100.00 - 30.00 + 5.00 - 10.00; bob: 30.00 - 5.00 - 10.00 EUR and 10.85 USD, the wallet
    # and its ledger account alike.
    assert text.count("65.00") >= 2 and text.count("15.00") >= 2 and text.count("10.85") >= 4, text
