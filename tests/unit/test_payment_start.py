"""Starting payments through the service layer, on in-memory wallets and payments: each start
moves exactly the amount asked for between the wallets the rules allow, and every refusal names
its rule before any money is asked to move."""

from __future__ import annotations

import uuid

import pytest

from ledgerline.core.auth import Principal
from ledgerline.core.money import MoneyError
from ledgerline.payment import domain as d
from ledgerline.payment.domain import BankCall, Payment, PaymentType, Reserve, Status
from ledgerline.payment.ports import WalletInfo
from ledgerline.payment.service import (
    StartDeposit,
    StartRefund,
    StartTransfer,
    StartWithdrawal,
    start_deposit,
    start_refund,
    start_transfer,
    start_withdrawal,
)
from tests.unit.fakes import InMemoryPayments, InMemoryWallets

ALICE_EUR, ALICE_USD, BOB_EUR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
MISSING = uuid.uuid4()


def principal(subject: str, *scopes: str) -> Principal:
    return Principal(subject, frozenset(scopes), token_id=None, session_id=None, expires_at=0)


ALICE, BOB, CAROL, ADMIN = principal("alice"), principal("bob"), principal("carol"), principal("ops", "admin")


def wallets() -> InMemoryWallets:
    return InMemoryWallets(
        [
            WalletInfo(ALICE_EUR, "EUR", "alice"),
            WalletInfo(ALICE_USD, "USD", "alice"),
            WalletInfo(BOB_EUR, "EUR", "bob"),
        ]
    )


def transfer(by: Principal, source: uuid.UUID, destination: uuid.UUID, amount: str = "12.34") -> StartTransfer:
    return StartTransfer(by, source, destination, amount, "EUR")


async def test_a_transfer_reserves_its_amount_in_the_source_wallet() -> None:
    payment, commands = await start_transfer(transfer(ALICE, ALICE_EUR, BOB_EUR), wallets())
    assert (payment.type, payment.status, payment.amount_minor, payment.currency) == (
        PaymentType.TRANSFER,
        Status.INITIATED,
        1234,
        "EUR",
    )
    assert (payment.source_wallet_id, payment.destination_wallet_id) == (ALICE_EUR, BOB_EUR)
    assert commands == [Reserve(ALICE_EUR, 1234)]


async def test_a_self_transfer_is_refused_before_any_wallet_is_looked_up() -> None:
    known = wallets()
    with pytest.raises(d.SelfTransfer):
        await start_transfer(transfer(ALICE, ALICE_EUR, ALICE_EUR), known)
    assert known.asked == []


async def test_money_leaves_only_the_callers_own_wallet() -> None:
    with pytest.raises(d.NotYourWallet) as refused:
        await start_transfer(transfer(ALICE, BOB_EUR, ALICE_EUR), wallets())
    assert refused.value.wallet_id == BOB_EUR
    # Not even an admin spends from a customer's wallet.
    with pytest.raises(d.NotYourWallet):
        await start_transfer(transfer(ADMIN, BOB_EUR, ALICE_EUR), wallets())


async def test_a_missing_source_answers_as_another_customers_wallet() -> None:
    with pytest.raises(d.NotYourWallet) as refused:
        await start_transfer(transfer(ALICE, MISSING, BOB_EUR), wallets())
    assert refused.value.detail == f"source wallet {MISSING} is not one of yours"


async def test_a_missing_destination_is_unknown_not_hidden() -> None:
    with pytest.raises(d.UnknownWallet) as refused:
        await start_transfer(transfer(ALICE, ALICE_EUR, MISSING), wallets())
    assert not isinstance(refused.value, d.NotYourWallet)
    assert refused.value.wallet_id == MISSING


async def test_both_wallets_hold_the_payments_currency() -> None:
    with pytest.raises(d.CurrencyMismatch):
        await start_transfer(transfer(ALICE, ALICE_USD, BOB_EUR), wallets())


@pytest.mark.parametrize("amount", ["0", "-1", "1.234", "12.3.4", ""])
async def test_an_amount_that_is_not_a_positive_sum_in_the_currency_is_refused(amount: str) -> None:
    known = wallets()
    with pytest.raises(MoneyError):
        await start_transfer(transfer(ALICE, ALICE_EUR, BOB_EUR, amount), known)
    assert known.asked == []


async def test_a_deposit_charges_the_card_into_the_callers_wallet() -> None:
    payment, commands = await start_deposit(StartDeposit(ALICE, ALICE_EUR, "50.00", "EUR", "tok_visa"), wallets())
    assert (payment.destination_wallet_id, payment.source_wallet_id, payment.amount_minor) == (ALICE_EUR, None, 5000)
    assert payment.external_reference == "tok_visa"
    assert commands == [BankCall("charge")]
    with pytest.raises(d.NotYourWallet):
        await start_deposit(StartDeposit(ALICE, BOB_EUR, "50.00", "EUR", "tok_visa"), wallets())


async def test_a_withdrawal_reserves_the_amount_before_the_payout() -> None:
    command = StartWithdrawal(BOB, BOB_EUR, "7.50", "EUR", "DE89370400440532013000")
    payment, commands = await start_withdrawal(command, wallets())
    assert (payment.source_wallet_id, payment.amount_minor, payment.external_reference) == (
        BOB_EUR,
        750,
        "DE89370400440532013000",
    )
    assert commands == [Reserve(BOB_EUR, 750)]


def completed_transfer(amount_minor: int = 10_000, status: Status = Status.COMPLETED) -> Payment:
    return Payment(uuid.uuid4(), PaymentType.TRANSFER, status, amount_minor, "EUR", ALICE_EUR, BOB_EUR)


async def test_the_payee_refunds_from_the_wallet_the_transfer_paid_into() -> None:
    original = completed_transfer()
    refund, commands = await start_refund(
        StartRefund(BOB, original.id, "25.00"), wallets(), InMemoryPayments([original])
    )
    assert (refund.type, refund.amount_minor, refund.original_payment_id) == (PaymentType.REFUND, 2500, original.id)
    assert (refund.source_wallet_id, refund.destination_wallet_id) == (BOB_EUR, ALICE_EUR)
    assert commands == [Reserve(BOB_EUR, 2500)]


async def test_the_payer_reads_the_transfer_but_does_not_refund_it() -> None:
    original = completed_transfer()
    with pytest.raises(d.NotPayee):
        await start_refund(StartRefund(ALICE, original.id, "1.00"), wallets(), InMemoryPayments([original]))


@pytest.mark.parametrize("who", [CAROL, None])
async def test_a_stranger_or_a_missing_payment_is_not_found(who: Principal | None) -> None:
    original = completed_transfer()
    payment_id = original.id if who else uuid.uuid4()
    with pytest.raises(d.PaymentNotFound):
        await start_refund(StartRefund(who or BOB, payment_id, "1.00"), wallets(), InMemoryPayments([original]))


async def test_only_completed_transfers_are_refunded() -> None:
    running = completed_transfer(status=Status.RESERVED)
    with pytest.raises(d.NotRefundable) as refused:
        await start_refund(StartRefund(BOB, running.id, "1.00"), wallets(), InMemoryPayments([running]))
    assert refused.value.detail == "only completed transfers are refunded; this is a RESERVED transfer"


def test_refunds_never_add_up_to_more_than_the_transfer() -> None:
    original = completed_transfer(10_000)
    d.check_refund_fits(original, refunded_minor=6_000, amount_minor=4_000)
    with pytest.raises(d.RefundExceedsOriginal) as refused:
        d.check_refund_fits(original, refunded_minor=6_000, amount_minor=4_001)
    assert refused.value.detail == "at most 40.00 EUR can still be refunded"
