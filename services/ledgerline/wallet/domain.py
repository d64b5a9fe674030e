"""Wallets: balance, held funds and what may be spent. Plain values, no I/O.

`available = balance - held`; it never goes below `-overdraft_limit`. A hold is keyed by the
payment that took it, so each payment reserves, releases or settles its funds once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class WalletStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"


class HoldStatus(StrEnum):
    HELD = "held"
    RELEASED = "released"
    SETTLED = "settled"
    REJECTED = "rejected"  # The reserve was refused; nothing is held. Kept so a repeat gets the same answer.


class RejectionReason(StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    WALLET_FROZEN = "wallet_frozen"
    CURRENCY_MISMATCH = "currency_mismatch"
    UNKNOWN_WALLET = "unknown_wallet"
    HOLD_RELEASED = "hold_released"


class InvariantViolation(RuntimeError):
    """A state that must never exist; raised loudly instead of being written."""


@dataclass(frozen=True, slots=True)
class Wallet:
    id: uuid.UUID
    owner_id: str
    currency: str
    balance_minor: int = 0
    held_minor: int = 0
    overdraft_limit_minor: int = 0
    status: WalletStatus = WalletStatus.ACTIVE
    version: int = 0

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.held_minor

    def checked(self) -> Wallet:
        if self.held_minor < 0:
            raise InvariantViolation(f"wallet {self.id}: held {self.held_minor} < 0")
        if self.overdraft_limit_minor < 0:
            raise InvariantViolation(f"wallet {self.id}: negative overdraft limit")
        if self.available_minor < -self.overdraft_limit_minor:
            raise InvariantViolation(f"wallet {self.id}: available {self.available_minor} below overdraft limit")
        return self


@dataclass(frozen=True, slots=True)
class Hold:
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: int
    status: HoldStatus
    reason: str | None = None  # Why a reserve was refused.


def open_wallet(wallet_id: uuid.UUID, owner_id: str, currency: str, overdraft_limit_minor: int = 0) -> Wallet:
    return Wallet(wallet_id, owner_id, currency, overdraft_limit_minor=overdraft_limit_minor).checked()


def reserve(wallet: Wallet, amount_minor: int, currency: str) -> Wallet | RejectionReason:
    """Take a hold of `amount_minor`, or say why not."""
    if amount_minor <= 0:
        raise InvariantViolation(f"reserve of non-positive amount {amount_minor}")
    if wallet.currency != currency:
        return RejectionReason.CURRENCY_MISMATCH
    if wallet.status is WalletStatus.FROZEN:
        return RejectionReason.WALLET_FROZEN
    if wallet.available_minor - amount_minor < -wallet.overdraft_limit_minor:
        return RejectionReason.INSUFFICIENT_FUNDS
    return _next(wallet, held_minor=wallet.held_minor + amount_minor)


def release(wallet: Wallet, hold: Hold) -> Wallet:
    _require_held(wallet, hold)
    return _next(wallet, held_minor=wallet.held_minor - hold.amount_minor)


def settle_debit(wallet: Wallet, hold: Hold) -> Wallet:
    """The held money leaves the wallet: balance and held both drop by the hold."""
    _require_held(wallet, hold)
    return _next(
        wallet,
        balance_minor=wallet.balance_minor - hold.amount_minor,
        held_minor=wallet.held_minor - hold.amount_minor,
    )


def credit(wallet: Wallet, amount_minor: int) -> Wallet:
    """Incoming money is always accepted, even by a frozen wallet: the ledger has posted it."""
    if amount_minor <= 0:
        raise InvariantViolation(f"credit of non-positive amount {amount_minor}")
    return _next(wallet, balance_minor=wallet.balance_minor + amount_minor)


def set_status(wallet: Wallet, status: WalletStatus) -> Wallet:
    return wallet if wallet.status is status else _next(wallet, status=status)


def _require_held(wallet: Wallet, hold: Hold) -> None:
    if hold.wallet_id != wallet.id or hold.status is not HoldStatus.HELD:
        raise InvariantViolation(f"hold {hold.payment_id} is not held on wallet {wallet.id}")


def _next(wallet: Wallet, **changes: object) -> Wallet:
    return replace(wallet, version=wallet.version + 1, **changes).checked()  # type: ignore[arg-type]  # Typed callers.


# What the payment service says of a payment whose hold an operator wants released: a status, or
# None when it knows no such payment.
ENDED_WITHOUT_MONEY_MOVING = frozenset({"FAILED", "COMPENSATED"})


@dataclass(frozen=True, slots=True)
class HoldRelease:
    """The audit of a hold released by hand: which, how much, on whose word and why."""

    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: int
    currency: str
    payment_status: str | None
    released_by: str
    reason: str
    released_at: datetime | None = None  # Set by the database when the release commits.


class HoldNotReleasable(Exception):
    """Why an operator may not release a hold by hand; `code` names it for the API."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def release_stranded(wallet: Wallet, hold: Hold, payment_status: str | None) -> Wallet:
    """Release a hold whose payment will never release or settle it itself.

    Only a payment that ended with no money moved (or that the payment service never had) leaves
    its hold behind for good. One still in flight will settle or release it; a completed one
    moved the money in the ledger, so its hold is settled, not given back (that would let the
    wallet spend money the ledger already took)."""
    if hold.status is not HoldStatus.HELD:
        raise HoldNotReleasable("hold_not_held", f"the hold of payment {hold.payment_id} is {hold.status.value}")
    if payment_status == "COMPLETED":
        raise HoldNotReleasable("payment_completed", f"payment {hold.payment_id} completed; its money left the ledger")
    if payment_status is not None and payment_status not in ENDED_WITHOUT_MONEY_MOVING:
        raise HoldNotReleasable("payment_in_flight", f"payment {hold.payment_id} is {payment_status}, still in flight")
    return release(wallet, hold)
