"""The payment service layer: starting payments, as free handlers of frozen commands.

A handler checks a request against the rules (the caller's own wallet, currencies, the refund
limit), then returns the payment and the first command of its saga; `accept_once` commits them
through the intake, once per idempotency key. Handlers reach storage and the wallet service only
through ports, so the unit tests run them on fakes. Refusals are `domain.PaymentRefused` (and
`MoneyError` for an amount); the routes turn them into problems.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.auth import Principal
from ledgerline.core.idempotency import IdempotencyStore, StoredResponse
from ledgerline.core.money import parse_positive_amount
from ledgerline.core.problems import Problem
from ledgerline.payment import domain as d
from ledgerline.payment import repository
from ledgerline.payment.domain import Payment, PaymentType
from ledgerline.payment.intake import Acceptance, Check, PaymentIntake
from ledgerline.payment.ports import PaymentLookup, WalletInfo, WalletLookup

Start = tuple[Payment, list[d.Command]]
View = Callable[[Payment], dict[str, object]]


@dataclass(frozen=True, slots=True)
class StartTransfer:
    principal: Principal
    source_wallet_id: uuid.UUID
    destination_wallet_id: uuid.UUID
    amount: str
    currency: str


@dataclass(frozen=True, slots=True)
class StartDeposit:
    principal: Principal
    wallet_id: uuid.UUID
    amount: str
    currency: str
    card_token: str


@dataclass(frozen=True, slots=True)
class StartWithdrawal:
    principal: Principal
    wallet_id: uuid.UUID
    amount: str
    currency: str
    bank_account: str


@dataclass(frozen=True, slots=True)
class StartRefund:
    principal: Principal
    payment_id: uuid.UUID
    amount: str


async def start_transfer(command: StartTransfer, wallets: WalletLookup) -> Start:
    """From the caller's wallet to anyone's wallet of the same currency."""
    amount = parse_positive_amount(command.amount, command.currency)
    d.check_distinct(command.source_wallet_id, command.destination_wallet_id)
    await own_wallet(wallets, command.principal, command.source_wallet_id, command.currency, role="source")
    await existing_wallet(wallets, command.destination_wallet_id, command.currency, role="destination")
    return d.start(
        uuid.uuid4(),
        PaymentType.TRANSFER,
        amount,
        command.currency,
        source=command.source_wallet_id,
        destination=command.destination_wallet_id,
    )


async def start_deposit(command: StartDeposit, wallets: WalletLookup) -> Start:
    """A card charge into the caller's wallet."""
    return await _start_with_bank(command, PaymentType.DEPOSIT, command.card_token, wallets)


async def start_withdrawal(command: StartWithdrawal, wallets: WalletLookup) -> Start:
    """A payout from the caller's wallet to a bank account."""
    return await _start_with_bank(command, PaymentType.WITHDRAWAL, command.bank_account, wallets)


async def _start_with_bank(
    command: StartDeposit | StartWithdrawal, type_: PaymentType, reference: str, wallets: WalletLookup
) -> Start:
    """Money between the caller's wallet and the bank: into it for a deposit, out of it otherwise."""
    into_wallet = type_ is PaymentType.DEPOSIT
    amount = parse_positive_amount(command.amount, command.currency)
    role = "destination" if into_wallet else "source"
    await own_wallet(wallets, command.principal, command.wallet_id, command.currency, role=role)
    return d.start(
        uuid.uuid4(),
        type_,
        amount,
        command.currency,
        source=None if into_wallet else command.wallet_id,
        destination=command.wallet_id if into_wallet else None,
        external_reference=reference,
    )


async def start_refund(command: StartRefund, wallets: WalletLookup, payments: PaymentLookup) -> Start:
    """Part or all of a completed transfer back, out of the wallet it paid into: the payee's call.

    The limit (refunds never add up to more than the transfer) is checked again, under a row
    lock, by `refund_limit` as the refund commits.
    """
    original = await payments.get(command.payment_id)
    if original is None:
        raise d.PaymentNotFound(f"no payment {command.payment_id}")
    if not command.principal.owns(await wallets.owner_of(original.destination_wallet_id)):
        if not await may_read(command.principal, original, wallets):
            raise d.PaymentNotFound(f"no payment {command.payment_id}")
        raise d.NotPayee("the refund comes out of the receiving wallet")
    d.check_refundable(original)
    return d.start(
        uuid.uuid4(),
        PaymentType.REFUND,
        parse_positive_amount(command.amount, original.currency),
        original.currency,
        source=original.destination_wallet_id,
        destination=original.source_wallet_id,
        original_payment_id=original.id,
    )


def refund_limit(payment_id: uuid.UUID) -> Check:
    """The refund limit, checked in the transaction that writes the refund."""

    async def check(connection: AsyncConnection, refund: Payment) -> None:
        # The original row lock serialises concurrent refunds of one payment.
        original = await repository.get(connection, payment_id, for_update=True)
        if original is None:
            raise d.PaymentNotFound(f"no payment {payment_id}")
        refunded = await repository.refunded_minor(connection, payment_id)
        d.check_refund_fits(original, refunded, refund.amount_minor)

    return check


async def may_read(principal: Principal, payment: Payment, wallets: WalletLookup) -> bool:
    """Admins read every payment; a customer those that moved money out of or into a wallet of
    theirs, as their history lists them (the recipient of a transfer reads it too)."""
    if principal.is_admin:
        return True
    ends = (payment.source_wallet_id, payment.destination_wallet_id)
    return any([principal.owns(await wallets.owner_of(wallet)) for wallet in ends if wallet is not None])


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer to a payment request: the first one's, replayed for a key seen before."""

    response: StoredResponse
    replayed: bool


async def accept_once(
    key: str,
    fingerprint: str,
    start: Callable[[], Awaitable[Start]],
    *,
    idempotency: IdempotencyStore,
    intake: PaymentIntake,
    view: View,
    check: Check | None = None,
) -> Accepted:
    """Start a payment once per idempotency key: `start()` runs only for a key not seen before,
    and its payment commits through the intake with the response a retry replays."""
    stored = await idempotency.begin(key, fingerprint)
    if stored is not None:
        return Accepted(stored, replayed=True)
    try:
        payment, commands = await start()
        response = StoredResponse(202, view(payment))
        if not await intake.accept(Acceptance(key, fingerprint, response, payment, commands), check):
            # Another request with this key committed first (the fast path was unavailable).
            stored = await idempotency.lookup(key, fingerprint)
            if stored is None:
                raise Problem(409, "idempotency_key_in_flight", "Request with this key is in flight")
            return Accepted(stored, replayed=True)
    except BaseException:
        await idempotency.abandon(key, fingerprint)
        raise
    return Accepted(response, replayed=False)


async def own_wallet(
    wallets: WalletLookup, principal: Principal, wallet_id: uuid.UUID, currency: str, *, role: str
) -> WalletInfo:
    wallet = await wallets.get(wallet_id)
    if wallet is None or not principal.owns(wallet.owner_id):
        raise d.NotYourWallet(f"{role} wallet {wallet_id} is not one of yours", wallet_id=wallet_id)
    return _in_currency(wallet, currency, role)


async def existing_wallet(wallets: WalletLookup, wallet_id: uuid.UUID, currency: str, *, role: str) -> WalletInfo:
    wallet = await wallets.get(wallet_id)
    if wallet is None:
        raise d.UnknownWallet(f"{role} wallet {wallet_id} does not exist", wallet_id=wallet_id)
    return _in_currency(wallet, currency, role)


def _in_currency(wallet: WalletInfo, currency: str, role: str) -> WalletInfo:
    if wallet.currency != currency:
        # Names no currency: the destination may be anyone's, and its currency is theirs.
        raise d.CurrencyMismatch(f"{role} wallet {wallet.id} does not hold {currency}")
    return wallet
