"""Reconciliation's pure parts: which wallets of a page differ from the ledger, which differences
survive a second read (money in flight does not, money that is wrong does), and what a pass says."""

from __future__ import annotations

import uuid

from ledgerline.ledger.reconciler import outcome_of, still_mismatched
from ledgerline.ledger.reconciliation import Mismatch, Report, compare_page

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def test_a_page_yields_the_wallets_whose_balance_is_not_their_ledger_accounts() -> None:
    items = [
        {"id": str(A), "currency": "EUR", "balance": "10.00"},
        {"id": str(B), "currency": "EUR", "balance": "22.34"},
        {"id": str(C), "currency": "JPY", "balance": "0"},  # No account yet: the ledger holds 0.
    ]
    found = compare_page(items, {A: 1_000, B: 1_000})
    assert found == [Mismatch(B, "EUR", 2_234, 1_000)]
    assert found[0].difference_minor == 1_234
    assert found[0].view() == {
        "wallet_id": str(B),
        "currency": "EUR",
        "wallet_balance": "22.34",
        "ledger_balance": "10.00",
    }


def test_a_difference_counts_only_if_a_second_read_finds_the_same_one() -> None:
    drifted = Mismatch(A, "EUR", 2_234, 1_000)
    assert still_mismatched(drifted, 2_234, 1_000)
    # The same drift while the wallet keeps moving: still the same 12.34 too many.
    assert still_mismatched(drifted, 1_234, 0)
    # A transfer in flight: posted in the ledger, settled in the wallet since.
    in_flight = Mismatch(A, "EUR", 1_000, 500)
    assert not still_mismatched(in_flight, 500, 500)
    assert not still_mismatched(in_flight, 700, 300)


def test_an_account_without_a_wallet_counts_while_it_holds_money() -> None:
    orphan = Mismatch(A, "EUR", None, 500)
    assert orphan.view()["wallet_balance"] == "missing wallet"
    assert still_mismatched(orphan, None, 500)
    assert not still_mismatched(orphan, None, 0)


def test_listing_is_bounded_but_every_mismatch_is_counted() -> None:
    report = Report()
    for n in range(5):
        report.add_mismatch(Mismatch(uuid.UUID(int=n), "EUR", n + 1, 0), listed_max=2)
    assert report.mismatch_count == 5
    assert len(report.mismatches) == 2
    assert not report.ok


def test_a_pass_is_unbalanced_before_it_is_mismatched() -> None:
    assert outcome_of(Report(currency_totals={"EUR": 0}), confirmed=0) == "clean"
    assert outcome_of(Report(currency_totals={"EUR": 0}), confirmed=2) == "mismatched"
    assert outcome_of(Report(currency_totals={"EUR": 1, "USD": 0}), confirmed=2) == "unbalanced"
    assert Report(currency_totals={"EUR": 1, "USD": 0}).unbalanced_currencies == ["EUR"]
