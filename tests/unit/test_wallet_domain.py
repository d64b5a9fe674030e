"""Holds keep available funds at or above the overdraft limit, and invariants fail loudly."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerline.wallet.domain import (
    Hold,
    HoldNotReleasable,
    HoldStatus,
    InvariantViolation,
    RejectionReason,
    Wallet,
    WalletStatus,
    credit,
    open_wallet,
    release,
    release_stranded,
    reserve,
    settle_debit,
)

W = uuid.uuid4()


def wallet(balance: int = 1000, held: int = 0, overdraft: int = 0, **kw: object) -> Wallet:
    fields = {"balance_minor": balance, "held_minor": held, "overdraft_limit_minor": overdraft, **kw}
    return Wallet(W, "u", "EUR", **fields)  # type: ignore[arg-type]  # Wallet fields by name, of their types.


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**4),
    st.lists(st.integers(min_value=1, max_value=10**5), max_size=30),
)
def test_reservations_never_take_available_below_the_overdraft_limit(
    balance: int, overdraft: int, asks: list[int]
) -> None:
    current = wallet(balance, overdraft=overdraft)
    for ask in asks:
        outcome = reserve(current, ask, "EUR")
        if isinstance(outcome, RejectionReason):
            assert outcome is RejectionReason.INSUFFICIENT_FUNDS
            assert current.available_minor - ask < -overdraft
        else:
            current = outcome
        assert current.available_minor >= -overdraft
    assert current.balance_minor == balance


def test_reserve_refuses_frozen_wallets_and_other_currencies() -> None:
    assert reserve(wallet(status=WalletStatus.FROZEN), 1, "EUR") is RejectionReason.WALLET_FROZEN
    assert reserve(wallet(), 1, "USD") is RejectionReason.CURRENCY_MISMATCH
    assert reserve(wallet(100), 101, "EUR") is RejectionReason.INSUFFICIENT_FUNDS


def test_settle_and_release_consume_exactly_the_hold() -> None:
    reserved = reserve(wallet(1000), 300, "EUR")
    assert isinstance(reserved, Wallet) and reserved.held_minor == 300 and reserved.available_minor == 700
    hold = Hold(uuid.uuid4(), W, 300, HoldStatus.HELD)
    settled = settle_debit(reserved, hold)
    assert (settled.balance_minor, settled.held_minor) == (700, 0)
    released = release(reserved, hold)
    assert (released.balance_minor, released.held_minor) == (1000, 0)
    with pytest.raises(InvariantViolation):
        release(reserved, Hold(hold.payment_id, W, 300, HoldStatus.RELEASED))


def test_credits_reach_frozen_wallets_and_invariants_are_enforced() -> None:
    assert credit(wallet(0, status=WalletStatus.FROZEN), 5).balance_minor == 5
    with pytest.raises(InvariantViolation):
        credit(wallet(), 0)
    with pytest.raises(InvariantViolation):
        wallet(balance=10, held=11).checked()
    assert open_wallet(W, "u", "EUR", 500).overdraft_limit_minor == 500


@pytest.mark.parametrize("payment_status", ["FAILED", "COMPENSATED", None])
def test_an_operator_releases_a_hold_only_its_ended_or_unknown_payment_left(payment_status: str | None) -> None:
    hold = Hold(uuid.uuid4(), W, 300, HoldStatus.HELD)
    released = release_stranded(wallet(held=300), hold, payment_status)
    assert (released.balance_minor, released.held_minor, released.available_minor) == (1000, 0, 1000)


@pytest.mark.parametrize(
    ("payment_status", "hold_status", "code"),
    [
        ("RESERVED", HoldStatus.HELD, "payment_in_flight"),
        ("POSTED", HoldStatus.HELD, "payment_in_flight"),
        ("COMPLETED", HoldStatus.HELD, "payment_completed"),
        ("FAILED", HoldStatus.RELEASED, "hold_not_held"),
        (None, HoldStatus.SETTLED, "hold_not_held"),
    ],
)
def test_a_hold_its_payment_may_still_use_or_has_used_is_not_released(
    payment_status: str | None, hold_status: HoldStatus, code: str
) -> None:
    hold = Hold(uuid.uuid4(), W, 300, hold_status)
    with pytest.raises(HoldNotReleasable) as refused:
        release_stranded(wallet(held=300), hold, payment_status)
    assert refused.value.code == code
