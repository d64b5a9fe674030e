"""The checker's rules find each kind of broken book, and pass sound ones, on plain values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ledgerline.verify import checks as k

A, B = uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def payment(status: str, type_: str = "transfer", age_s: float = 1.0, id_: uuid.UUID | None = None) -> k.PaymentRow:
    return k.PaymentRow(id_ or uuid.uuid4(), type_, status, NOW - timedelta(seconds=age_s))


def test_a_currency_that_does_not_sum_to_zero_is_named() -> None:
    findings = k.ledger_balanced({"EUR": 0, "USD": 1})
    assert [(f.subject, f.detail) for f in findings] == [("USD", "accounts sum to 0.01, not 0")]


def test_a_wallet_that_differs_from_its_ledger_account_by_one_cent_is_found() -> None:
    wallets = [k.WalletRow(A, "EUR", 10_000, 0), k.WalletRow(B, "EUR", 0, 0)]
    findings = k.wallets_reconciled(wallets, {A: 9_999})
    assert [f.subject for f in findings] == [str(A)]
    assert "100.00" in findings[0].detail and "99.99" in findings[0].detail


def test_ledger_money_in_an_account_without_wallet_is_found() -> None:
    findings = k.ledger_accounts_without_wallet({A: ("EUR", 500), B: ("EUR", 0)}, known=set())
    assert [f.subject for f in findings] == [str(A)]


def test_held_above_balance_or_apart_from_live_holds_is_found_and_overdraft_is_allowed() -> None:
    over = k.WalletRow(A, "EUR", 100, 101)
    drifted = k.WalletRow(B, "EUR", 100, 50)
    overdraft = k.WalletRow(uuid.uuid4(), "EUR", 100, 150, overdraft_limit_minor=50)
    findings = k.held_within_balance([over, drifted, overdraft], {A: 101, B: 40, overdraft.id: 150})
    assert [f.subject for f in findings] == [str(A), str(B)]


def test_a_live_hold_of_a_finished_or_unknown_payment_is_found() -> None:
    finished, running, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    holds = [k.HoldRow(p, A, 100) for p in (finished, running, unknown)]
    findings = k.holds_live(holds, {finished: "COMPLETED", running: "RESERVED"})
    assert [f.subject for f in findings] == [str(finished), str(unknown)]


def test_money_supply_is_deposits_minus_withdrawals_per_currency() -> None:
    assert k.money_supply({"EUR": 700}, {"EUR": 1_000}, {"EUR": 300}) == []
    findings = k.money_supply({"EUR": 701, "USD": 5}, {"EUR": 1_000}, {"EUR": 300})
    assert [f.subject for f in findings] == ["EUR", "USD"]


def test_one_entry_per_completed_payment_and_none_for_a_failed_one() -> None:
    twice, failed, missing, fine, running = (
        payment(s) for s in ("COMPLETED", "COMPENSATED", "COMPLETED", "COMPLETED", "POSTED")
    )
    entries = {twice.id: 2, failed.id: 1, fine.id: 1, running.id: 1}
    findings = k.entry_once([twice, failed, missing, fine, running], entries)
    assert [f.subject for f in findings] == [str(twice.id), str(failed.id), str(missing.id)]
    orphan = k.entries_without_payment([fine.id, A], known={fine.id})
    assert [f.subject for f in orphan] == [str(A)]


def test_payments_in_flight_past_the_bound_are_reported() -> None:
    old, young, done = payment("RESERVED", age_s=700), payment("RESERVED", age_s=10), payment("FAILED", age_s=900)
    findings = k.payments_settled([old, young, done], NOW, timedelta(seconds=600))
    assert [f.subject for f in findings] == [str(old.id)]


def test_a_tally_counts_every_finding_but_keeps_only_its_maximum() -> None:
    tally = k.Tally(k.Check.WALLETS_RECONCILED, kept_max=2)
    tally.add([k.Finding(tally.check, str(i), "x") for i in range(5)], checked=10)
    assert (tally.found, len(tally.findings), tally.checked, tally.ok) == (5, 2, 10, False)
