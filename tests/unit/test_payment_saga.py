"""Each saga walks its states of docs/design.md, compensates on rejection, and ignores stale replies."""

import uuid

import pytest

from ledgerline.payment import domain as d
from ledgerline.payment.domain import PaymentType, Status

A, B = uuid.uuid4(), uuid.uuid4()


def started(type_: PaymentType, **kw: object) -> tuple[d.Payment, list[d.Command]]:
    wallets = {
        PaymentType.TRANSFER: {"source": A, "destination": B},
        PaymentType.REFUND: {"source": B, "destination": A},
        PaymentType.DEPOSIT: {"destination": B},
        PaymentType.WITHDRAWAL: {"source": A},
        PaymentType.REWARD: {"destination": B},
        PaymentType.REWARD_CLAWBACK: {"source": B},
    }[type_]
    return d.start(uuid.uuid4(), type_, 500, "EUR", **wallets, **kw)  # type: ignore[arg-type]  # Keywords of start.


def test_transfer_happy_path() -> None:
    p, cmds = started(PaymentType.TRANSFER)
    assert cmds == [d.Reserve(A, 500)]
    p, cmds = d.on_funds_reserved(p)
    assert p.status is Status.RESERVED
    assert cmds == [d.Post((d.Line(A, -500), d.Line(B, 500)), f"transfer {p.id}")]
    p, cmds = d.on_entry_posted(p)
    assert p.status is Status.POSTED and cmds == [d.Settle(A, ((B, 500),))]
    p, cmds = d.on_funds_settled(p)
    assert p.status is Status.COMPLETED and cmds == [d.Announce()]


def test_transfer_rejected_by_wallet_fails_with_the_reason() -> None:
    p, _ = started(PaymentType.TRANSFER)
    p, cmds = d.on_funds_rejected(p, "insufficient_funds")
    assert (p.status, p.failure_reason, cmds) == (Status.FAILED, "insufficient_funds", [d.Announce()])


def test_ledger_rejection_releases_the_hold_and_compensates() -> None:
    p, _ = started(PaymentType.TRANSFER)
    p, _ = d.on_funds_reserved(p)
    p, cmds = d.on_entry_rejected(p, "account_closed")
    assert p.status is Status.COMPENSATING and cmds == [d.Release(A)]
    p, cmds = d.on_funds_released(p)
    assert (p.status, p.failure_reason) == (Status.COMPENSATED, "ledger_rejected:account_closed")
    assert cmds == [d.Announce()]


def test_ledger_timeout_voids_then_compensates_only_if_never_posted() -> None:
    p, _ = started(PaymentType.TRANSFER)
    p, _ = d.on_funds_reserved(p)
    for _ in range(2):
        p, cmds = d.on_timeout(p, attempts_max=3)
        assert p.status is Status.RESERVED and isinstance(cmds[0], d.Post)
    p, cmds = d.on_timeout(p, attempts_max=3)
    assert p.status is Status.VOIDING and cmds == [d.Void()]
    posted, cmds = d.on_entry_posted(p)
    assert posted.status is Status.POSTED and isinstance(cmds[0], d.Settle)
    voided, cmds = d.on_entry_voided(p)
    assert voided.status is Status.COMPENSATING and cmds == [d.Release(A)]


def test_wallet_steps_are_retried_forever_never_abandoned() -> None:
    p, _ = started(PaymentType.TRANSFER)
    for _ in range(20):
        p, cmds = d.on_timeout(p, attempts_max=3)
        assert p.status is Status.INITIATED and cmds == [d.Reserve(A, 500)]


def test_deposit_charges_then_posts_then_credits() -> None:
    p, cmds = started(PaymentType.DEPOSIT, external_reference="tok")
    assert cmds == [d.BankCall("charge")]
    p, cmds = d.on_bank_result(p, "charge", True, "approved")
    assert p.status is Status.CHARGED
    assert cmds == [d.Post((d.Line(d.SETTLEMENT, -500), d.Line(B, 500)), f"deposit {p.id}")]
    p, cmds = d.on_entry_posted(p)
    assert cmds == [d.Settle(None, ((B, 500),))]
    p, _ = d.on_funds_settled(p)
    assert p.status is Status.COMPLETED


def test_declined_charge_fails_and_ledger_rejection_refunds_the_charge() -> None:
    p, _ = started(PaymentType.DEPOSIT)
    declined, _ = d.on_bank_result(p, "charge", False, "card_declined")
    assert (declined.status, declined.failure_reason) == (Status.FAILED, "card_declined")
    charged, _ = d.on_bank_result(p, "charge", True, "approved")
    compensating, cmds = d.on_entry_rejected(charged, "account_closed")
    assert cmds == [d.BankCall("refund_charge")]
    done, _ = d.on_bank_result(compensating, "refund_charge", True, "refunded")
    assert done.status is Status.COMPENSATED


def test_withdrawal_reserves_pays_out_posts_and_settles() -> None:
    p, cmds = started(PaymentType.WITHDRAWAL, external_reference="DE00")
    assert cmds == [d.Reserve(A, 500)]
    p, cmds = d.on_funds_reserved(p)
    assert cmds == [d.BankCall("payout")]
    p, cmds = d.on_bank_result(p, "payout", True, "paid")
    assert cmds == [d.Post((d.Line(A, -500), d.Line(d.SETTLEMENT, 500)), f"withdrawal {p.id}")]
    p, cmds = d.on_entry_posted(p)
    assert cmds == [d.Settle(A, ())]
    p, _ = d.on_funds_settled(p)
    assert p.status is Status.COMPLETED


def test_failed_payout_releases_the_hold() -> None:
    p, _ = started(PaymentType.WITHDRAWAL)
    p, _ = d.on_funds_reserved(p)
    p, cmds = d.on_bank_result(p, "payout", False, "payout_failed")
    assert p.status is Status.COMPENSATING and cmds == [d.Release(A)]
    p, _ = d.on_funds_released(p)
    assert (p.status, p.failure_reason) == (Status.COMPENSATED, "payout_failed")


def test_unreachable_bank_fails_a_charge_only_after_the_attempts() -> None:
    p, _ = started(PaymentType.DEPOSIT)
    p, cmds = d.on_bank_unreachable(p, "charge", attempts_max=2)
    assert p.status is Status.INITIATED and cmds == []
    p, cmds = d.on_bank_unreachable(p, "charge", attempts_max=2)
    assert (p.status, p.failure_reason) == (Status.FAILED, "bank_unavailable")


def test_stale_and_duplicate_replies_change_nothing() -> None:
    p, _ = started(PaymentType.TRANSFER)
    reserved, _ = d.on_funds_reserved(p)
    assert d.on_funds_reserved(reserved) == (reserved, [])
    for transition in (d.on_funds_settled, d.on_funds_released, d.on_entry_voided, d.on_entry_posted):
        assert transition(p) == (p, [])
    terminal, _ = d.on_funds_rejected(p, "insufficient_funds")
    assert d.on_funds_reserved(terminal) == (terminal, [])
    assert d.on_timeout(terminal, 3) == (terminal, [])


def test_a_payout_entry_is_never_abandoned() -> None:
    p, _ = started(PaymentType.WITHDRAWAL)
    p, _ = d.on_funds_reserved(p)
    p, _ = d.on_bank_result(p, "payout", True, "paid")
    for _ in range(10):
        p, cmds = d.on_timeout(p, attempts_max=2)
        assert p.status is Status.PAID_OUT and isinstance(cmds[0], d.Post)
    with pytest.raises(d.SagaError):
        d.on_entry_rejected(p, "account_closed")


def test_invalid_payments_cannot_start() -> None:
    with pytest.raises(d.SagaError):
        d.start(uuid.uuid4(), PaymentType.TRANSFER, 0, "EUR", source=A, destination=B)
    with pytest.raises(d.SelfTransfer):
        d.start(uuid.uuid4(), PaymentType.TRANSFER, 5, "EUR", source=A, destination=A)
    with pytest.raises(d.SagaError):
        d.start(uuid.uuid4(), PaymentType.WITHDRAWAL, 5, "EUR")


def test_reward_posts_from_the_rewards_account_then_credits_the_wallet() -> None:
    p, cmds = started(PaymentType.REWARD)
    assert cmds == [d.Post((d.Line(d.REWARDS, -500), d.Line(B, 500)), f"reward {p.id}")]
    p, cmds = d.on_entry_posted(p)
    assert p.status is Status.POSTED and cmds == [d.Settle(None, ((B, 500),))]
    p, cmds = d.on_funds_settled(p)
    assert p.status is Status.COMPLETED and cmds == [d.Announce()]


def test_reward_the_ledger_refuses_fails_with_nothing_to_undo() -> None:
    p, _ = started(PaymentType.REWARD)
    p, cmds = d.on_entry_rejected(p, "account_closed")
    assert (p.status, p.failure_reason, cmds) == (Status.FAILED, "ledger_rejected:account_closed", [d.Announce()])


def test_reward_entry_that_never_answers_is_voided_then_fails() -> None:
    p, _ = started(PaymentType.REWARD)
    p, cmds = d.on_timeout(p, attempts_max=1)
    assert p.status is Status.VOIDING and cmds == [d.Void()]
    p, cmds = d.on_entry_voided(p)
    assert (p.status, p.failure_reason, cmds) == (Status.FAILED, "ledger_timeout", [d.Announce()])


def test_clawback_holds_the_wallet_then_posts_to_the_rewards_account() -> None:
    p, cmds = started(PaymentType.REWARD_CLAWBACK)
    assert cmds == [d.Reserve(B, 500)]
    p, cmds = d.on_funds_reserved(p)
    assert cmds == [d.Post((d.Line(B, -500), d.Line(d.REWARDS, 500)), f"reward_clawback {p.id}")]
    p, cmds = d.on_entry_posted(p)
    assert cmds == [d.Settle(B, ())]
    p, _ = d.on_funds_settled(p)
    assert p.status is Status.COMPLETED


def test_clawback_the_wallet_cannot_cover_fails_without_moving_money() -> None:
    p, _ = started(PaymentType.REWARD_CLAWBACK)
    p, cmds = d.on_funds_rejected(p, "insufficient_funds")
    assert (p.status, cmds) == (Status.FAILED, [d.Announce()])
