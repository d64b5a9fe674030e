"""Payments and their sagas as a pure state machine. No I/O.

`start` gives a new payment and its first command; `on_*` apply a reply and give the next
commands; `on_timeout` retries the outstanding command or escalates. The service layer
persists the payment and turns commands into Kafka messages, all in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import ClassVar, Literal

from ledgerline.core.money import format_amount


class PaymentType(StrEnum):
    TRANSFER = "transfer"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    REFUND = "refund"
    # Cashback from the currency's rewards account, and taking it back after a refund.
    REWARD = "reward"
    REWARD_CLAWBACK = "reward_clawback"


class Status(StrEnum):
    INITIATED = "INITIATED"
    RESERVED = "RESERVED"
    CHARGED = "CHARGED"
    PAID_OUT = "PAID_OUT"
    POSTED = "POSTED"
    VOIDING = "VOIDING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    COMPENSATED = "COMPENSATED"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.COMPENSATED})
# Payments whose money moves wallet to wallet through a hold on the source.
_HOLD_FIRST = frozenset({PaymentType.TRANSFER, PaymentType.REFUND, PaymentType.WITHDRAWAL, PaymentType.REWARD_CLAWBACK})
# Payments into a wallet with nothing to hold: no money leaves a wallet.
_CREDIT_ONLY = frozenset({PaymentType.DEPOSIT, PaymentType.REWARD})
# Payments out of a wallet to an account of the platform, with nothing to credit.
_DEBIT_ONLY = frozenset({PaymentType.WITHDRAWAL, PaymentType.REWARD_CLAWBACK})


class Reason(StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_DECLINED = "card_declined"
    PAYOUT_FAILED = "payout_failed"
    BANK_UNAVAILABLE = "bank_unavailable"
    LEDGER_TIMEOUT = "ledger_timeout"


class SagaError(RuntimeError):
    """A reply that cannot happen in the payment's state: a bug, so it fails loudly."""


class PaymentRefused(Exception):
    """A payment the rules do not start; `code` names the rule for the client."""

    code: ClassVar[str]
    title: ClassVar[str]

    def __init__(self, detail: str, *, wallet_id: uuid.UUID | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.wallet_id = wallet_id


class SelfTransfer(PaymentRefused):
    code, title = "self_transfer", "Source and destination are the same wallet"


class UnknownWallet(PaymentRefused):
    code, title = "unknown_wallet", "Unknown wallet"


class NotYourWallet(UnknownWallet):
    """Money leaves (or, for a deposit, arrives in) only the caller's own wallet: another's is
    refused exactly as a missing one, so wallet ids reveal nothing."""


class CurrencyMismatch(PaymentRefused):
    code, title = "currency_mismatch", "Currency does not match the wallet"


class PaymentNotFound(PaymentRefused):
    code, title = "payment_not_found", "Payment not found"


class NotPayee(PaymentRefused):
    code, title = "not_payee", "Only the payee refunds"


class NotRefundable(PaymentRefused):
    code, title = "not_refundable", "Payment cannot be refunded"


class RefundExceedsOriginal(PaymentRefused):
    code, title = "refund_exceeds_original", "Refund exceeds what is left to refund"


def check_distinct(source: uuid.UUID | None, destination: uuid.UUID | None) -> None:
    if source is not None and source == destination:
        raise SelfTransfer("a transfer needs two different wallets")


def check_refund_fits(original: Payment, refunded_minor: int, amount_minor: int) -> None:
    """Refunds of a transfer never add up to more than it moved."""
    if refunded_minor + amount_minor > original.amount_minor:
        remaining = format_amount(original.amount_minor - refunded_minor, original.currency)
        raise RefundExceedsOriginal(f"at most {remaining} {original.currency} can still be refunded")


def check_refundable(original: Payment) -> None:
    if original.cross_currency:
        raise NotRefundable("a cross-currency transfer is not refunded; send the money back with a new quote")
    if original.type is not PaymentType.TRANSFER or original.status is not Status.COMPLETED:
        raise NotRefundable(
            f"only completed transfers are refunded; this is a {original.status.value} {original.type.value}"
        )


@dataclass(frozen=True, slots=True)
class Payment:
    id: uuid.UUID
    type: PaymentType
    status: Status
    amount_minor: int
    currency: str
    source_wallet_id: uuid.UUID | None = None
    destination_wallet_id: uuid.UUID | None = None
    original_payment_id: uuid.UUID | None = None
    external_reference: str | None = None
    failure_reason: str | None = None
    attempts: int = 0
    version: int = 0
    # A cross-currency transfer: what its destination receives, at the rate of its quote.
    destination_amount_minor: int | None = None
    destination_currency: str | None = None
    quote_id: uuid.UUID | None = None
    # The atomic batch the payment belongs to: its hold is taken with the group's, all or none.
    group_id: uuid.UUID | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def cross_currency(self) -> bool:
        return self.destination_currency is not None and self.destination_currency != self.currency

    @property
    def credited_minor(self) -> int:
        """What the destination receives, in its own currency."""
        return self.destination_amount_minor if self.destination_amount_minor is not None else self.amount_minor


# Commands: what the payment asks of another party next.
@dataclass(frozen=True, slots=True)
class Reserve:
    wallet_id: uuid.UUID
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Release:
    wallet_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Line:
    # A wallet id, "settlement" for the currency's external account, "rewards" for the account
    # that funds cashback, or "fx" for the account that exchanges currencies.
    account: uuid.UUID | str
    amount_minor: int
    currency: str | None = None  # None: the payment's currency.


@dataclass(frozen=True, slots=True)
class Post:
    lines: tuple[Line, ...]
    description: str


@dataclass(frozen=True, slots=True)
class Void:
    pass


@dataclass(frozen=True, slots=True)
class Settle:
    debit_wallet_id: uuid.UUID | None
    credits: tuple[tuple[uuid.UUID, int], ...]


BankOperationName = Literal["charge", "payout", "refund_charge"]


@dataclass(frozen=True, slots=True)
class BankCall:
    operation: BankOperationName


@dataclass(frozen=True, slots=True)
class Announce:
    """The payment reached a terminal state: tell the world (payment.completed / failed)."""


Command = Reserve | Release | Post | Void | Settle | BankCall | Announce
SETTLEMENT = "settlement"
REWARDS = "rewards"
FX = "fx"


def start(
    payment_id: uuid.UUID,
    type_: PaymentType,
    amount_minor: int,
    currency: str,
    *,
    source: uuid.UUID | None = None,
    destination: uuid.UUID | None = None,
    original_payment_id: uuid.UUID | None = None,
    external_reference: str | None = None,
) -> tuple[Payment, list[Command]]:
    if amount_minor <= 0:
        raise SagaError(f"payment amount must be positive, got {amount_minor}")
    needs = {
        PaymentType.TRANSFER: (source, destination),
        PaymentType.REFUND: (source, destination),
        PaymentType.DEPOSIT: (destination,),
        PaymentType.WITHDRAWAL: (source,),
        PaymentType.REWARD: (destination,),
        PaymentType.REWARD_CLAWBACK: (source,),
    }[type_]
    if any(wallet is None for wallet in needs):
        raise SagaError(f"{type_} needs its wallets")
    check_distinct(source, destination)
    payment = Payment(
        payment_id,
        type_,
        Status.INITIATED,
        amount_minor,
        currency,
        source,
        destination,
        original_payment_id,
        external_reference,
    )
    return payment, outstanding(payment)


def outstanding(payment: Payment) -> list[Command]:
    """The command the payment waits on in its current state (re-sent on timeout)."""
    p, s = payment, payment.status
    if s is Status.INITIATED:
        if p.type is PaymentType.REWARD:
            return [_post(p)]  # Paid from the platform's own account: no bank, no hold.
        return [BankCall("charge")] if p.type is PaymentType.DEPOSIT else [Reserve(_src(p), p.amount_minor)]
    if s is Status.RESERVED:
        return [BankCall("payout")] if p.type is PaymentType.WITHDRAWAL else [_post(p)]
    if s in (Status.CHARGED, Status.PAID_OUT):
        return [_post(p)]
    if s is Status.POSTED:
        debit = None if p.type in _CREDIT_ONLY else _src(p)
        credits = () if p.type in _DEBIT_ONLY else ((_dst(p), p.credited_minor),)
        return [Settle(debit, credits)]
    if s is Status.VOIDING:
        return [Void()]
    if s is Status.COMPENSATING:
        return [BankCall("refund_charge")] if p.type is PaymentType.DEPOSIT else [Release(_src(p))]
    return []


def _post(p: Payment) -> Post:
    if p.cross_currency:
        return _exchange(p)
    source: uuid.UUID | str = {PaymentType.DEPOSIT: SETTLEMENT, PaymentType.REWARD: REWARDS}.get(p.type) or _src(p)
    destination: uuid.UUID | str = {PaymentType.WITHDRAWAL: SETTLEMENT, PaymentType.REWARD_CLAWBACK: REWARDS}.get(
        p.type
    ) or _dst(p)
    return Post((Line(source, -p.amount_minor), Line(destination, p.amount_minor)), f"{p.type.value} {p.id}")


def _exchange(p: Payment) -> Post:
    """Four postings that balance per currency: the source pays the FX account in its currency,
    the FX account pays the destination in the other."""
    received = p.credited_minor
    lines = (
        Line(_src(p), -p.amount_minor),
        Line(FX, p.amount_minor),
        Line(FX, -received, p.destination_currency),
        Line(_dst(p), received, p.destination_currency),
    )
    return Post(lines, f"{p.type.value} {p.id}")


def _src(p: Payment) -> uuid.UUID:
    if p.source_wallet_id is None:
        raise SagaError(f"payment {p.id} has no source wallet")
    return p.source_wallet_id


def _dst(p: Payment) -> uuid.UUID:
    if p.destination_wallet_id is None:
        raise SagaError(f"payment {p.id} has no destination wallet")
    return p.destination_wallet_id


def _move(payment: Payment, status: Status, reason: str | None = None) -> tuple[Payment, list[Command]]:
    moved = replace(
        payment,
        status=status,
        attempts=0,
        version=payment.version + 1,
        failure_reason=reason if reason is not None else payment.failure_reason,
    )
    commands = outstanding(moved)
    if moved.terminal:
        commands.append(Announce())
    return moved, commands


def _stale(payment: Payment) -> tuple[Payment, list[Command]]:
    """A reply that arrives after the saga moved on (a redelivery or a retried command)."""
    return payment, []


def on_funds_reserved(p: Payment) -> tuple[Payment, list[Command]]:
    if p.status is not Status.INITIATED or p.type not in _HOLD_FIRST:
        return _stale(p)
    return _move(p, Status.RESERVED)


def on_funds_rejected(p: Payment, reason: str) -> tuple[Payment, list[Command]]:
    if p.status is not Status.INITIATED:
        return _stale(p)
    return _move(p, Status.FAILED, reason)


def on_bank_result(p: Payment, operation: str, approved: bool, reason: str) -> tuple[Payment, list[Command]]:
    if operation == "charge" and p.status is Status.INITIATED:
        return _move(p, Status.CHARGED) if approved else _move(p, Status.FAILED, reason)
    if operation == "payout" and p.status is Status.RESERVED:
        return _move(p, Status.PAID_OUT) if approved else _move(p, Status.COMPENSATING, reason)
    if operation == "refund_charge" and p.status is Status.COMPENSATING:
        if not approved:
            raise SagaError(f"bank refused to refund charge of payment {p.id}: {reason}")
        return _move(p, Status.COMPENSATED)
    return _stale(p)


def on_entry_posted(p: Payment) -> tuple[Payment, list[Command]]:
    if p.status is Status.INITIATED and p.type is PaymentType.REWARD:
        return _move(p, Status.POSTED)
    if p.status in (Status.RESERVED, Status.CHARGED, Status.PAID_OUT, Status.VOIDING):
        if p.status is Status.RESERVED and p.type is PaymentType.WITHDRAWAL:
            raise SagaError(f"withdrawal {p.id} posted before its payout")
        return _move(p, Status.POSTED)
    return _stale(p)


def on_entry_rejected(p: Payment, reason: str) -> tuple[Payment, list[Command]]:
    if p.status is Status.PAID_OUT:
        # The bank already paid out; the entry must be posted. Rejection here means a closed
        # account with money on it, which the ledger refuses to create: a bug, not a state.
        raise SagaError(f"ledger rejected withdrawal {p.id} after payout: {reason}")
    if p.type is PaymentType.REWARD and p.status in (Status.INITIATED, Status.VOIDING):
        return _move(p, Status.FAILED, f"ledger_rejected:{reason}")  # Nothing was held or charged.
    if p.status in (Status.RESERVED, Status.CHARGED, Status.VOIDING):
        return _move(p, Status.COMPENSATING, f"ledger_rejected:{reason}")
    return _stale(p)


def on_entry_voided(p: Payment) -> tuple[Payment, list[Command]]:
    if p.status is not Status.VOIDING:
        return _stale(p)
    reason = p.failure_reason or Reason.LEDGER_TIMEOUT.value
    if p.type is PaymentType.REWARD:
        return _move(p, Status.FAILED, reason)  # Nothing was held or charged: nothing to undo.
    return _move(p, Status.COMPENSATING, reason)


def on_funds_released(p: Payment) -> tuple[Payment, list[Command]]:
    if p.status is not Status.COMPENSATING:
        return _stale(p)
    return _move(p, Status.COMPENSATED)


def on_funds_settled(p: Payment) -> tuple[Payment, list[Command]]:
    if p.status is not Status.POSTED:
        return _stale(p)
    return _move(p, Status.COMPLETED)


def on_timeout(p: Payment, attempts_max: int) -> tuple[Payment, list[Command]]:
    """Re-send the outstanding command; past `attempts_max`, escalate where that is safe.

    Escalation: an entry that may or may not be posted is voided (the ledger answers either
    "voided" or "already posted"); a bank that cannot be reached fails a charge or compensates
    a payout. Everything else (wallet steps, the settle, a payout's entry) is retried for as
    long as it takes, because abandoning it would strand money. So is the entry of a payment of
    an atomic batch: voiding it would fail one member of a group whose holds were all taken.
    """
    if p.terminal:
        return _stale(p)
    exhausted = p.attempts + 1 >= attempts_max and p.group_id is None
    if exhausted and p.status in (Status.RESERVED, Status.CHARGED) and p.type is not PaymentType.WITHDRAWAL:
        return _move(p, Status.VOIDING, Reason.LEDGER_TIMEOUT.value)
    if exhausted and p.status is Status.INITIATED and p.type is PaymentType.REWARD:
        return _move(p, Status.VOIDING, Reason.LEDGER_TIMEOUT.value)
    return replace(p, attempts=p.attempts + 1, version=p.version + 1), outstanding(p)


def on_bank_unreachable(p: Payment, operation: str, attempts_max: int) -> tuple[Payment, list[Command]]:
    """The request never reached the bank (refused connection, open circuit)."""
    if p.attempts + 1 < attempts_max:
        return replace(p, attempts=p.attempts + 1, version=p.version + 1), []
    if operation == "charge" and p.status is Status.INITIATED:
        return _move(p, Status.FAILED, Reason.BANK_UNAVAILABLE.value)
    if operation == "payout" and p.status is Status.RESERVED:
        return _move(p, Status.COMPENSATING, Reason.BANK_UNAVAILABLE.value)
    return replace(p, attempts=p.attempts + 1, version=p.version + 1), []
