"""Cashback rules, rewards and clawbacks as plain values and integer arithmetic. No I/O.

A reward is `floor(amount * rate_bps / 10000) + bonus`, cut to what is left of the rule's
monthly cap for the holder (calendar month, UTC). A refund claws back the reward in proportion
to what was refunded, counted over all refunds of the payment so that partial refunds round
down only once: after refunds totalling `r` of an original `a`, `floor(reward * r / a)` has been
asked back. Only integers, in the currency's minor unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

BASIS_POINTS = 10_000
# Ids derived from what they are about: a reward per (source payment, rule), a clawback per
# (refund, reward), so redelivery and replay find the same row and the same payment.
_REWARD_NAMESPACE = uuid.UUID("0d4c3b6a-8f2e-4b1d-9c7a-5e6f1a2b3c4d")


class RewardedType(StrEnum):
    """Payments a rule may reward; refunds and rewards themselves never earn one."""

    TRANSFER = "transfer"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


# The payment types of the outcomes the rewards service reads besides rewarded ones: a refund
# claws back, and a reward's or clawback's own payment settles it.
REFUND_PAYMENT = "refund"
REWARD_PAYMENT = "reward"
CLAWBACK_PAYMENT = "reward_clawback"


class RewardStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class ClawbackStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    OWED = "owed"


class RuleError(ValueError):
    """A rule that could never be applied as written."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: uuid.UUID
    payment_type: RewardedType
    currency: str
    amount_min_minor: int
    rate_bps: int
    bonus_minor: int
    monthly_cap_minor: int
    valid_from: datetime
    valid_to: datetime | None = None  # Exclusive; open-ended when None.

    def __post_init__(self) -> None:
        if not 0 <= self.rate_bps <= BASIS_POINTS:
            raise RuleError(f"rate_bps is 0..{BASIS_POINTS}, not {self.rate_bps}")
        if self.amount_min_minor < 0 or self.bonus_minor < 0:
            raise RuleError("the minimum amount and the bonus cannot be negative")
        if self.monthly_cap_minor <= 0:
            raise RuleError("the monthly cap must be positive")
        if self.rate_bps == 0 and self.bonus_minor == 0:
            raise RuleError("a rule pays a percentage, a bonus or both")
        if self.valid_from.tzinfo is None or (self.valid_to is not None and self.valid_to.tzinfo is None):
            raise RuleError("validity times need a time zone")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise RuleError("valid_to must be after valid_from")

    def applies_to(self, payment_type: str, currency: str, amount_minor: int, at: datetime) -> bool:
        return (
            payment_type == self.payment_type.value
            and currency == self.currency
            and amount_minor >= self.amount_min_minor
            and self.valid_from <= at
            and (self.valid_to is None or at < self.valid_to)
        )


def uncapped_reward(rule: Rule, amount_minor: int) -> int:
    return amount_minor * rule.rate_bps // BASIS_POINTS + rule.bonus_minor


def reward_minor(rule: Rule, amount_minor: int, rewarded_this_month_minor: int) -> int:
    """What `rule` pays on `amount_minor`, given what it already paid the holder this month."""
    if amount_minor <= 0:
        raise ValueError(f"a rewarded amount is positive, not {amount_minor}")
    left = max(rule.monthly_cap_minor - rewarded_this_month_minor, 0)
    return min(uncapped_reward(rule, amount_minor), left)


def matching(rules: Iterable[Rule], payment_type: str, currency: str, amount_minor: int, at: datetime) -> list[Rule]:
    return [rule for rule in rules if rule.applies_to(payment_type, currency, amount_minor, at)]


def outcome_matters(
    rules: Iterable[Rule], payment_type: str, currency: str, amount_minor: int, at: datetime, *, completed: bool
) -> bool:
    """Whether a payment outcome can change anything here: a completed payment a rule matches,
    a completed refund in a currency some rule rewards (its payment may have earned a reward,
    or may yet, whichever is consumed first), and every outcome of a reward's or clawback's own
    payment. Anything else is passed over without a write."""
    if payment_type in (REWARD_PAYMENT, CLAWBACK_PAYMENT):
        return True
    if not completed:
        return False
    if payment_type == REFUND_PAYMENT:
        return any(rule.currency == currency for rule in rules)
    return bool(matching(rules, payment_type, currency, amount_minor, at))


def month_of(at: datetime) -> str:
    """The calendar month (UTC) a payment counts against, as `YYYY-MM`."""
    if at.tzinfo is None:
        raise ValueError("a payment time needs a time zone")
    return at.astimezone(UTC).strftime("%Y-%m")


def clawback_due_minor(reward: int, original: int, refunded_total: int, asked_before: int) -> int:
    """What a refund claws back, given all refunds so far and what earlier refunds asked back."""
    if original <= 0 or not 0 <= refunded_total <= original:
        raise ValueError(f"refunded {refunded_total} of {original}")
    return max(reward * refunded_total // original - asked_before, 0)


def split_clawback(due_minor: int, available_minor: int) -> tuple[int, int]:
    """(taken from the wallet, owed): never more than the wallet has, so never below zero."""
    taken = max(min(due_minor, available_minor), 0)
    return taken, due_minor - taken


def reward_id(source_payment_id: uuid.UUID, rule_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_REWARD_NAMESPACE, f"reward:{source_payment_id}:{rule_id}")


def clawback_id(refund_payment_id: uuid.UUID, reward: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_REWARD_NAMESPACE, f"clawback:{refund_payment_id}:{reward}")


def rewarded_wallet(payment_type: str, source: uuid.UUID | None, destination: uuid.UUID | None) -> uuid.UUID | None:
    """The wallet whose holder earned the reward: the payer, or for a deposit the wallet paid into."""
    return destination if payment_type == RewardedType.DEPOSIT.value else source
