"""Cashback arithmetic is integer and rounds down: percentage plus bonus, cut to the month's cap,
within the rule's window, several rules at once, and clawbacks in proportion to refunds that
never take more than the wallet has; and which payment outcomes a rule can touch at all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledgerline.rewards import domain as d
from ledgerline.rewards.domain import RewardedType, Rule, RuleError

START = datetime(2026, 11, 1, tzinfo=UTC)


def rule(**changes: object) -> Rule:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "payment_type": RewardedType.TRANSFER,
        "currency": "EUR",
        "amount_min_minor": 1000,
        "rate_bps": 150,
        "bonus_minor": 0,
        "monthly_cap_minor": 5000,
        "valid_from": START,
        "valid_to": START + timedelta(days=30),
    }
    values.update(changes)
    return Rule(**values)  # type: ignore[arg-type]


def test_percentage_rounds_down_in_minor_units() -> None:
    # 1.5% of 12.34 is 0.1851: 18 cents, never 19.
    assert d.reward_minor(rule(), 1234, 0) == 18
    # 1.5% of 0.66 is 0.99 cents: nothing, before the bonus.
    assert d.uncapped_reward(rule(amount_min_minor=0), 66) == 0


def test_bonus_is_added_to_the_percentage() -> None:
    assert d.reward_minor(rule(bonus_minor=50), 10_000, 0) == 150 + 50


def test_cap_limits_what_is_left_of_the_month() -> None:
    capped = rule(rate_bps=1000, monthly_cap_minor=1500)
    assert d.reward_minor(capped, 10_000, 0) == 1000
    assert d.reward_minor(capped, 10_000, 1000) == 500
    assert d.reward_minor(capped, 10_000, 1500) == 0
    assert d.reward_minor(capped, 10_000, 1600) == 0  # Never negative, even past the cap.


def test_window_minimum_type_and_currency_decide_whether_a_rule_applies() -> None:
    r = rule()
    assert r.applies_to("transfer", "EUR", 1000, START)
    assert not r.applies_to("transfer", "EUR", 999, START)  # Below the minimum.
    assert not r.applies_to("transfer", "EUR", 1000, START - timedelta(microseconds=1))
    assert not r.applies_to("transfer", "EUR", 1000, START + timedelta(days=30))  # valid_to is exclusive.
    assert not r.applies_to("deposit", "EUR", 1000, START)
    assert not r.applies_to("transfer", "USD", 1000, START)
    assert rule(valid_to=None).applies_to("transfer", "EUR", 1000, START + timedelta(days=3650))


def test_several_rules_each_pay_their_own_reward() -> None:
    percent, bonus, other = rule(), rule(rate_bps=0, bonus_minor=100), rule(currency="USD")
    found = d.matching([percent, bonus, other], "transfer", "EUR", 20_000, START + timedelta(days=1))
    assert found == [percent, bonus]
    assert sum(d.reward_minor(r, 20_000, 0) for r in found) == 300 + 100


def test_a_rule_that_could_never_apply_as_written_is_refused() -> None:
    with pytest.raises(RuleError):
        rule(rate_bps=10_001)
    with pytest.raises(RuleError):
        rule(rate_bps=0, bonus_minor=0)
    with pytest.raises(RuleError):
        rule(monthly_cap_minor=0)
    with pytest.raises(RuleError):
        rule(valid_to=START)
    with pytest.raises(RuleError):
        rule(valid_from=datetime(2026, 11, 1))


def test_month_is_the_calendar_month_in_utc() -> None:
    late_in_berlin = datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert d.month_of(late_in_berlin) == "2026-11"
    assert d.month_of(datetime(2026, 12, 1, tzinfo=UTC)) == "2026-12"


def test_partial_refunds_claw_back_in_proportion_rounding_down_once() -> None:
    reward, original = 100, 3000
    # Three refunds of a third each: 33, 33, then 34, which adds up to the whole reward.
    first = d.clawback_due_minor(reward, original, 1000, 0)
    second = d.clawback_due_minor(reward, original, 2000, first)
    third = d.clawback_due_minor(reward, original, 3000, first + second)
    assert (first, second, third) == (33, 33, 34)


def test_a_clawback_takes_only_what_the_wallet_has_and_the_rest_is_owed() -> None:
    assert d.split_clawback(75, 1000) == (75, 0)
    assert d.split_clawback(75, 30) == (30, 45)
    assert d.split_clawback(75, 0) == (0, 75)
    assert d.split_clawback(75, -10) == (0, 75)  # An overdrawn wallet gives nothing.


def test_ids_are_derived_so_a_redelivered_payment_finds_the_same_reward() -> None:
    payment, rule_id = uuid.uuid4(), uuid.uuid4()
    assert d.reward_id(payment, rule_id) == d.reward_id(payment, rule_id)
    assert d.reward_id(payment, rule_id) != d.reward_id(payment, uuid.uuid4())
    assert d.clawback_id(payment, rule_id) != d.reward_id(payment, rule_id)


def test_the_payer_earns_except_on_a_deposit_where_the_wallet_paid_into_does() -> None:
    source, destination = uuid.uuid4(), uuid.uuid4()
    assert d.rewarded_wallet("transfer", source, destination) == source
    assert d.rewarded_wallet("withdrawal", source, None) == source
    assert d.rewarded_wallet("deposit", None, destination) == destination


def test_only_outcomes_a_rule_can_touch_matter() -> None:
    rules = [rule()]  # EUR transfers from 10.00, valid for November.
    inside = START + timedelta(days=1)

    def matters(
        payment_type: str, currency: str = "EUR", amount: int = 1000, at: datetime = inside, completed: bool = True
    ) -> bool:
        return d.outcome_matters(rules, payment_type, currency, amount, at, completed=completed)

    assert matters("transfer")
    assert not matters("transfer", amount=999)
    assert not matters("transfer", currency="USD")
    assert not matters("deposit")
    assert not matters("transfer", at=START + timedelta(days=30))
    assert not matters("transfer", completed=False)
    # A refund may claw back a reward made before, or yet to be made: any rule of its currency,
    # even one no longer valid, keeps it.
    assert matters("refund", at=START + timedelta(days=60))
    assert not matters("refund", currency="USD")
    assert not matters("refund", completed=False)
    # The outcomes of the service's own payments always settle a reward or a clawback.
    assert matters(d.REWARD_PAYMENT, currency="USD", completed=False)
    assert matters(d.CLAWBACK_PAYMENT, currency="USD")
    assert not d.outcome_matters([], "transfer", "EUR", 1000, inside, completed=True)
