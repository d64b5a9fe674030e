"""Journal entries balance per currency, running balances follow postings, and only empty accounts close."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerline.ledger.domain import (
    POSTINGS_PER_ENTRY_MAX,
    Account,
    AccountKind,
    AccountStatus,
    EntryRejection,
    InvalidEntry,
    Posting,
    UnbalancedEntry,
    apply_postings,
    check_balanced,
    close,
    rejection,
)

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def accounts(*ids: uuid.UUID, currency: str = "EUR") -> dict[uuid.UUID, Account]:
    return {i: Account(i, AccountKind.WALLET, currency) for i in ids}


@given(
    st.lists(
        st.integers(min_value=-(10**12), max_value=10**12).filter(bool), min_size=1, max_size=POSTINGS_PER_ENTRY_MAX - 1
    )
)
def test_an_entry_that_sums_to_zero_keeps_the_books_at_zero(amounts: list[int]) -> None:
    ids = [uuid.uuid4() for _ in amounts]
    balancing = -sum(amounts)
    postings = [Posting(i, "EUR", a) for i, a in zip(ids, amounts, strict=True)]
    if balancing == 0:
        with pytest.raises(InvalidEntry):
            check_balanced([*postings, Posting(uuid.uuid4(), "EUR", balancing)])
        return
    postings.append(Posting(uuid.uuid4(), "EUR", balancing))
    changed, applied = apply_postings(postings, accounts(*[p.account_id for p in postings]))
    assert sum(a.balance_minor for a in changed.values()) == 0
    assert [p.balance_after_minor for p in applied] == [p.amount_minor for p in postings]


def test_unbalanced_entries_are_refused_per_currency() -> None:
    with pytest.raises(UnbalancedEntry):
        check_balanced([Posting(A, "EUR", -100), Posting(B, "EUR", 99)])
    with pytest.raises(UnbalancedEntry):
        check_balanced([Posting(A, "EUR", -100), Posting(B, "USD", 100)])
    with pytest.raises(InvalidEntry):
        check_balanced([Posting(A, "EUR", 0), Posting(B, "EUR", 0)])
    with pytest.raises(InvalidEntry):
        check_balanced([Posting(A, "EUR", 1)])


def test_running_balance_and_sequence_advance_per_account() -> None:
    start = {A: Account(A, AccountKind.WALLET, "EUR", balance_minor=500, posting_count=7), **accounts(B)}
    changed, applied = apply_postings([Posting(A, "EUR", -200), Posting(B, "EUR", 200)], start)
    assert changed[A].balance_minor == 300 and changed[A].posting_count == 8
    assert (applied[0].balance_after_minor, applied[0].account_sequence) == (300, 8)
    assert (applied[1].balance_after_minor, applied[1].account_sequence) == (200, 1)


def test_closed_accounts_and_currency_mismatches_reject_the_entry() -> None:
    book = accounts(A, B) | {C: Account(C, AccountKind.WALLET, "EUR", status=AccountStatus.CLOSED)}
    assert rejection([Posting(A, "EUR", -1), Posting(C, "EUR", 1)], book) is EntryRejection.ACCOUNT_CLOSED
    usd = accounts(B, currency="USD")
    assert (
        rejection([Posting(A, "EUR", -1), Posting(B, "EUR", 1)], accounts(A) | usd) is EntryRejection.CURRENCY_MISMATCH
    )
    assert rejection([Posting(A, "EUR", -1), Posting(B, "EUR", 1)], book) is None


def test_only_empty_accounts_close() -> None:
    with pytest.raises(ValueError):
        close(Account(A, AccountKind.WALLET, "EUR", balance_minor=1))
    assert close(Account(A, AccountKind.WALLET, "EUR")).status is AccountStatus.CLOSED
