"""What the rewards service does with payment outcomes, a consumed batch in one transaction.

A completed transfer, deposit or withdrawal earns the rewards of the rules it matches; a
completed refund asks back a share of the rewards of the payment it refunds; the outcome of a
reward's or a clawback's own payment settles that reward or clawback. The inbox drops a
redelivered event, the unique (payment, rule) row a replayed payment and the refund's own row a
replayed refund.

Outcomes of different payments arrive in any order (other partitions, re-sends). A refund
consumed before the payment it refunds is kept; when that payment's reward is made, the reward
is paid in full and each earlier refund then claws back its share, exactly as had they come in
order: the same reward, the same clawbacks, the same journal entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.contracts import PAYMENT_COMPLETED, PAYMENT_FAILED, PaymentOutcome
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.processing import BatchHandling
from ledgerline.core.wallet_owners import WalletOwners
from ledgerline.rewards import domain as d
from ledgerline.rewards import repository
from ledgerline.rewards.domain import CLAWBACK_PAYMENT, REFUND_PAYMENT, REWARD_PAYMENT, RewardedType, RewardStatus, Rule

OUTCOMES = frozenset({PAYMENT_COMPLETED, PAYMENT_FAILED})
REWARDS_PAID = Counter("ledgerline_rewards_paid_minor_total", "Rewards paid into wallets, in minor units", ["currency"])
REWARDS_CLAWED_BACK = Counter(
    "ledgerline_rewards_clawed_back_minor_total", "Rewards taken back after refunds, in minor units", ["currency"]
)
REWARDS_OWED = Counter(
    "ledgerline_rewards_owed_minor_total",
    "Clawbacks a wallet could not cover, recorded as owed, in minor units",
    ["currency"],
)
OUTCOMES_PASSED_OVER = Counter(
    "ledgerline_rewards_outcomes_passed_over_total",
    "Payment outcomes no rule could match, passed over without a transaction or an inbox row",
    ["currency"],
)


def initialise_metrics(currencies: Sequence[str]) -> None:
    """Series at zero for each currency, so a dashboard shows 0 rather than nothing."""
    for currency in currencies:
        for counter in (REWARDS_PAID, REWARDS_CLAWED_BACK, REWARDS_OWED, OUTCOMES_PASSED_OVER):
            counter.labels(currency)


def _earns(outcome: PaymentOutcome) -> bool:
    return outcome.payment_type in {t.value for t in RewardedType}


def wallets_to_know(envelopes: Sequence[Envelope]) -> set[uuid.UUID]:
    """The wallets whose holders a batch may reward: asked before its transaction opens."""
    found = set()
    for envelope in envelopes:
        if envelope.type != PAYMENT_COMPLETED:
            continue
        outcome = PaymentOutcome.model_validate(envelope.data)
        wallet = d.rewarded_wallet(outcome.payment_type, outcome.source_wallet_id, outcome.destination_wallet_id)
        if _earns(outcome) and wallet is not None:
            found.add(wallet)
    return found


def mattering(envelopes: Sequence[Envelope], rules: Sequence[Rule]) -> list[Envelope]:
    """The envelopes of a batch that can change anything, by `rules` (see `outcome_matters`);
    messages of other types pass (the inbox processor passes them over itself)."""
    kept = []
    for envelope in envelopes:
        if envelope.type in OUTCOMES:
            outcome = PaymentOutcome.model_validate(envelope.data)
            at = envelope.time or datetime.now(UTC)
            completed = envelope.type == PAYMENT_COMPLETED
            if not d.outcome_matters(
                rules, outcome.payment_type, outcome.currency, outcome.amount_minor, at, completed=completed
            ):
                OUTCOMES_PASSED_OVER.labels(outcome.currency).inc()
                continue
        kept.append(envelope)
    return kept


class OutcomeHandling:
    def __init__(self, owners: WalletOwners) -> None:
        self._owners = owners

    def handling(self) -> BatchHandling:
        return BatchHandling(OUTCOMES, self.apply)

    async def apply(self, envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
        outcomes = [(e, PaymentOutcome.model_validate(e.data)) for e in envelopes]
        earning = [(e, o) for e, o in outcomes if e.type == PAYMENT_COMPLETED and _earns(o)]
        rules = await repository.rules_for(uow.connection, {(o.payment_type, o.currency) for _, o in earning})
        for envelope, outcome in outcomes:
            completed = envelope.type == PAYMENT_COMPLETED
            if completed and _earns(outcome) and rules:
                await self._earn(uow.connection, outcome, envelope.time or datetime.now(UTC), rules)
            elif completed and outcome.payment_type == REFUND_PAYMENT and outcome.original_payment_id:
                await _refunded(uow.connection, outcome.payment_id, outcome.original_payment_id, outcome.amount_minor)
            elif outcome.payment_type == REWARD_PAYMENT:
                await _reward_ended(uow, outcome, completed)
            elif outcome.payment_type == CLAWBACK_PAYMENT:
                await _clawback_ended(uow, outcome, completed)

    async def _earn(
        self, connection: AsyncConnection, outcome: PaymentOutcome, at: datetime, rules: list[Rule]
    ) -> None:
        wallet = d.rewarded_wallet(outcome.payment_type, outcome.source_wallet_id, outcome.destination_wallet_id)
        found = d.matching(rules, outcome.payment_type, outcome.currency, outcome.amount_minor, at)
        if wallet is None or not found:
            return
        holder = await self._owners.owner_of(wallet)
        if holder is None:
            return
        month = d.month_of(at)
        added: set[uuid.UUID] = set()
        for rule in found:
            # Rules in id order: two batches rewarding one holder lock the month rows alike.
            rewarded = await repository.lock_month(connection, rule.id, holder, month)
            amount = d.reward_minor(rule, outcome.amount_minor, rewarded)
            if amount <= 0:
                continue
            reward = repository.NewReward(
                id=d.reward_id(outcome.payment_id, rule.id),
                rule_id=rule.id,
                source_payment_id=outcome.payment_id,
                wallet_id=wallet,
                holder_id=holder,
                currency=outcome.currency,
                month=month,
                source_amount_minor=outcome.amount_minor,
                amount_minor=amount,
            )
            if await repository.add_reward(connection, reward):
                await repository.add_to_month(connection, rule.id, holder, month, amount)
                added.add(reward.id)
        if added:
            # Refunds consumed before this payment claw back from its new rewards now, in order.
            for refund_id, refund_minor in await repository.refunds_of(connection, outcome.payment_id):
                await _claw_back(connection, outcome.payment_id, refund_id, refund_minor, only=added)


async def _refunded(connection: AsyncConnection, refund_id: uuid.UUID, original: uuid.UUID, amount_minor: int) -> None:
    """A refund claws back from the rewards its payment has so far; one announced again is not
    counted twice, and one whose payment has no reward yet waits for it (in its own row)."""
    if await repository.add_refund(connection, refund_id, original, amount_minor):
        await _claw_back(connection, original, refund_id, amount_minor)


async def _claw_back(
    connection: AsyncConnection,
    original: uuid.UUID,
    refund_id: uuid.UUID,
    amount_minor: int,
    *,
    only: set[uuid.UUID] | None = None,
) -> None:
    for reward in await repository.rewards_of_payment(connection, original):
        if only is not None and reward.id not in only:
            continue
        refunded = min(reward.refunded_minor + amount_minor, reward.source_amount_minor)
        due = d.clawback_due_minor(
            reward.amount_minor, reward.source_amount_minor, refunded, reward.clawback_asked_minor
        )
        await repository.note_refund(connection, reward.id, refunded - reward.refunded_minor, due)
        if due > 0:
            await repository.add_clawback(connection, d.clawback_id(refund_id, reward.id), reward.id, refund_id, due)


async def _reward_ended(uow: UnitOfWork, outcome: PaymentOutcome, completed: bool) -> None:
    status = RewardStatus.PAID if completed else RewardStatus.FAILED
    reward = await repository.settle_reward(uow.connection, outcome.payment_id, status, outcome.reason)
    if reward is None:
        return
    if completed:
        uow.after_commit(lambda: REWARDS_PAID.labels(reward.currency).inc(reward.amount_minor))
    else:
        await repository.release_month(uow.connection, reward)
        await repository.drop_clawbacks(uow.connection, reward.id)


async def _clawback_ended(uow: UnitOfWork, outcome: PaymentOutcome, completed: bool) -> None:
    clawback = await repository.settle_clawback(uow.connection, outcome.payment_id, completed)
    if clawback is None:
        return
    taken = clawback.amount_minor if completed else 0
    owed = clawback.due_minor - taken
    currency = outcome.currency
    if taken:
        uow.after_commit(lambda: REWARDS_CLAWED_BACK.labels(currency).inc(taken))
    if owed:
        uow.after_commit(lambda: REWARDS_OWED.labels(currency).inc(owed))
