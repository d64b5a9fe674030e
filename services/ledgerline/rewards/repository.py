"""Rules, rewards, monthly totals and clawbacks in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.rewards.domain import ClawbackStatus, RewardedType, RewardStatus, Rule
from ledgerline.rewards.tables import clawbacks, monthly_totals, refunds, rewards, rules


@dataclass(frozen=True, slots=True)
class NewReward:
    id: uuid.UUID
    rule_id: uuid.UUID
    source_payment_id: uuid.UUID
    wallet_id: uuid.UUID
    holder_id: str
    currency: str
    month: str
    source_amount_minor: int
    amount_minor: int


def _rule(row: Row[Any]) -> Rule:
    return Rule(
        id=row.id,
        payment_type=RewardedType(row.payment_type),
        currency=row.currency,
        amount_min_minor=row.amount_min_minor,
        rate_bps=row.rate_bps,
        bonus_minor=row.bonus_minor,
        monthly_cap_minor=row.monthly_cap_minor,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
    )


async def add_rule(connection: AsyncConnection, rule: Rule) -> None:
    await connection.execute(
        rules.insert().values(
            id=rule.id,
            payment_type=rule.payment_type.value,
            currency=rule.currency,
            amount_min_minor=rule.amount_min_minor,
            rate_bps=rule.rate_bps,
            bonus_minor=rule.bonus_minor,
            monthly_cap_minor=rule.monthly_cap_minor,
            valid_from=rule.valid_from,
            valid_to=rule.valid_to,
        )
    )


async def count_rules(connection: AsyncConnection) -> int:
    return int(await connection.scalar(select(func.count()).select_from(rules)) or 0)


async def list_rules(connection: AsyncConnection, *, after: uuid.UUID | None, limit: int) -> list[Rule]:
    statement = select(rules).order_by(rules.c.id).limit(limit)
    if after is not None:
        statement = statement.where(rules.c.id > after)
    return [_rule(row) for row in await connection.execute(statement)]


async def get_rule(connection: AsyncConnection, rule_id: uuid.UUID) -> Rule | None:
    row = (await connection.execute(select(rules).where(rules.c.id == rule_id))).first()
    return _rule(row) if row else None


async def rules_for(connection: AsyncConnection, kinds: set[tuple[str, str]]) -> list[Rule]:
    """Rules for any of the (payment type, currency) pairs."""
    if not kinds:
        return []
    statement = (
        select(rules).where(tuple_(rules.c.payment_type, rules.c.currency).in_(sorted(kinds))).order_by(rules.c.id)
    )
    return [_rule(row) for row in await connection.execute(statement)]


async def lock_month(connection: AsyncConnection, rule_id: uuid.UUID, holder_id: str, month: str) -> int:
    """What the rule paid the holder this month, with the row locked until commit: two rewards
    for one holder are decided one after the other, so together they never pass the cap."""
    await connection.execute(
        insert(monthly_totals)
        .values(rule_id=rule_id, holder_id=holder_id, month=month, rewarded_minor=0)
        .on_conflict_do_nothing()
    )
    total = await connection.scalar(
        select(monthly_totals.c.rewarded_minor)
        .where(
            monthly_totals.c.rule_id == rule_id,
            monthly_totals.c.holder_id == holder_id,
            monthly_totals.c.month == month,
        )
        .with_for_update()
    )
    return int(total or 0)


async def add_to_month(connection: AsyncConnection, rule_id: uuid.UUID, holder_id: str, month: str, minor: int) -> None:
    await connection.execute(
        update(monthly_totals)
        .where(
            monthly_totals.c.rule_id == rule_id,
            monthly_totals.c.holder_id == holder_id,
            monthly_totals.c.month == month,
        )
        .values(rewarded_minor=monthly_totals.c.rewarded_minor + minor)
    )


async def add_reward(connection: AsyncConnection, reward: NewReward) -> bool:
    """True if the reward is new; a second one for the same payment and rule is never written."""
    inserted = await connection.execute(
        insert(rewards)
        .values(
            id=reward.id,
            rule_id=reward.rule_id,
            source_payment_id=reward.source_payment_id,
            wallet_id=reward.wallet_id,
            holder_id=reward.holder_id,
            currency=reward.currency,
            month=reward.month,
            source_amount_minor=reward.source_amount_minor,
            amount_minor=reward.amount_minor,
            status=RewardStatus.PENDING.value,
        )
        .on_conflict_do_nothing()
        .returning(rewards.c.id)
    )
    return inserted.first() is not None


async def rewards_of_payment(connection: AsyncConnection, source_payment_id: uuid.UUID) -> list[Row[Any]]:
    """The payment's rewards that were or may still be paid, locked for a clawback decision."""
    statement = (
        select(rewards)
        .where(rewards.c.source_payment_id == source_payment_id, rewards.c.status != RewardStatus.FAILED.value)
        .order_by(rewards.c.id)
        .with_for_update()
    )
    return list(await connection.execute(statement))


async def add_refund(
    connection: AsyncConnection, refund_id: uuid.UUID, original_id: uuid.UUID, amount_minor: int
) -> bool:
    """True if the refund is new; one announced again is counted once."""
    inserted = await connection.execute(
        insert(refunds)
        .values(refund_payment_id=refund_id, original_payment_id=original_id, amount_minor=amount_minor)
        .on_conflict_do_nothing()
        .returning(refunds.c.refund_payment_id)
    )
    return inserted.first() is not None


async def refunds_of(connection: AsyncConnection, original_id: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
    """(refund id, amount) of every refund of the payment seen so far, in the order they came."""
    statement = (
        select(refunds.c.refund_payment_id, refunds.c.amount_minor)
        .where(refunds.c.original_payment_id == original_id)
        .order_by(refunds.c.seen_at, refunds.c.refund_payment_id)
    )
    return [(row.refund_payment_id, row.amount_minor) for row in await connection.execute(statement)]


async def add_clawback(
    connection: AsyncConnection, clawback_id: uuid.UUID, reward_id: uuid.UUID, refund_id: uuid.UUID, due: int
) -> bool:
    inserted = await connection.execute(
        insert(clawbacks)
        .values(
            id=clawback_id,
            reward_id=reward_id,
            refund_payment_id=refund_id,
            due_minor=due,
            status=ClawbackStatus.PENDING.value,
        )
        .on_conflict_do_nothing()
        .returning(clawbacks.c.id)
    )
    return inserted.first() is not None


async def note_refund(connection: AsyncConnection, reward_id: uuid.UUID, refunded_minor: int, asked_minor: int) -> None:
    await connection.execute(
        update(rewards)
        .where(rewards.c.id == reward_id)
        .values(
            refunded_minor=rewards.c.refunded_minor + refunded_minor,
            clawback_asked_minor=rewards.c.clawback_asked_minor + asked_minor,
            updated_at=func.now(),
        )
    )


async def settle_reward(
    connection: AsyncConnection, reward_id: uuid.UUID, status: RewardStatus, reason: str | None
) -> Row[Any] | None:
    """Move a pending reward to its outcome; None when it was not pending (a redelivery)."""
    moved = await connection.execute(
        update(rewards)
        .where(rewards.c.id == reward_id, rewards.c.status == RewardStatus.PENDING.value)
        .values(status=status.value, failure_reason=reason, updated_at=func.now())
        .returning(rewards)
    )
    row: Row[Any] | None = moved.first()
    return row


async def settle_clawback(connection: AsyncConnection, clawback_id: uuid.UUID, succeeded: bool) -> Row[Any] | None:
    """A clawback's payment ended: what it took is clawed back, or on failure owed as well."""
    row = (
        await connection.execute(
            select(clawbacks).where(clawbacks.c.id == clawback_id, clawbacks.c.status == "pending").with_for_update()
        )
    ).first()
    if row is None or row.amount_minor is None:
        return None
    taken = row.amount_minor if succeeded else 0
    owed = row.due_minor - taken
    await connection.execute(
        update(clawbacks)
        .where(clawbacks.c.id == clawback_id)
        .values(
            status=(ClawbackStatus.COMPLETED if taken else ClawbackStatus.OWED).value,
            owed_minor=owed,
            updated_at=func.now(),
        )
    )
    await connection.execute(
        update(rewards)
        .where(rewards.c.id == row.reward_id)
        .values(
            clawed_back_minor=rewards.c.clawed_back_minor + taken,
            owed_minor=rewards.c.owed_minor + owed,
            updated_at=func.now(),
        )
    )
    return row


async def drop_clawbacks(connection: AsyncConnection, reward_id: uuid.UUID) -> None:
    """A reward that was never paid has nothing to take back: its pending clawbacks end at zero."""
    await connection.execute(
        update(clawbacks)
        .where(clawbacks.c.reward_id == reward_id, clawbacks.c.status == ClawbackStatus.PENDING.value)
        .values(status=ClawbackStatus.COMPLETED.value, amount_minor=0, owed_minor=0, updated_at=func.now())
    )


async def release_month(connection: AsyncConnection, reward: Row[Any]) -> None:
    """A reward that was never paid gives its part of the monthly cap back."""
    await add_to_month(connection, reward.rule_id, reward.holder_id, reward.month, -reward.amount_minor)


async def unrequested_rewards(connection: AsyncConnection, limit: int) -> list[Row[Any]]:
    statement = (
        select(rewards)
        .where(rewards.c.requested_at.is_(None), rewards.c.status == RewardStatus.PENDING.value)
        .order_by(rewards.c.created_at)
        .limit(limit)
    )
    return list(await connection.execute(statement))


async def mark_reward_requested(connection: AsyncConnection, reward_id: uuid.UUID) -> None:
    await connection.execute(update(rewards).where(rewards.c.id == reward_id).values(requested_at=func.now()))


async def unrequested_clawbacks(connection: AsyncConnection, limit: int) -> list[Row[Any]]:
    statement = (
        select(clawbacks, rewards.c.wallet_id, rewards.c.currency)
        .join(rewards, rewards.c.id == clawbacks.c.reward_id)
        .where(
            clawbacks.c.requested_at.is_(None),
            clawbacks.c.status == ClawbackStatus.PENDING.value,
            # A reward still being paid is clawed back once it is paid.
            rewards.c.status == RewardStatus.PAID.value,
        )
        .order_by(clawbacks.c.created_at)
        .limit(limit)
    )
    return list(await connection.execute(statement))


async def decide_clawback(connection: AsyncConnection, clawback_id: uuid.UUID, amount_minor: int) -> Row[Any] | None:
    """Fix what a clawback takes from the wallet, once: a retry asks for the same amount."""
    decided = await connection.execute(
        update(clawbacks)
        .where(clawbacks.c.id == clawback_id, clawbacks.c.amount_minor.is_(None))
        .values(amount_minor=amount_minor, updated_at=func.now())
        .returning(clawbacks)
    )
    row: Row[Any] | None = decided.first()
    if row is not None:
        return row
    stored: Row[Any] | None = (await connection.execute(select(clawbacks).where(clawbacks.c.id == clawback_id))).first()
    return stored


async def mark_clawback_requested(connection: AsyncConnection, clawback_id: uuid.UUID) -> None:
    await connection.execute(update(clawbacks).where(clawbacks.c.id == clawback_id).values(requested_at=func.now()))


async def list_rewards(
    connection: AsyncConnection, wallet_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Row[Any]]:
    """A wallet's rewards, newest first, keyset-paged on (created_at, id)."""
    statement = (
        select(rewards)
        .where(rewards.c.wallet_id == wallet_id)
        .order_by(rewards.c.created_at.desc(), rewards.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        at, last_id = before
        statement = statement.where(
            or_(rewards.c.created_at < at, (rewards.c.created_at == at) & (rewards.c.id < last_id))
        )
    return list(await connection.execute(statement))


async def clawbacks_of(connection: AsyncConnection, reward_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Row[Any]]]:
    found: dict[uuid.UUID, list[Row[Any]]] = {reward_id: [] for reward_id in reward_ids}
    if reward_ids:
        statement = (
            select(clawbacks).where(clawbacks.c.reward_id.in_(list(reward_ids))).order_by(clawbacks.c.created_at)
        )
        for row in await connection.execute(statement):
            found[row.reward_id].append(row)
    return found
