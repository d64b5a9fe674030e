"""Asks the payment service for the payments that rewards and clawbacks need.

A reward or clawback is written first (by the consumer), then asked for here with its own id as
both payment id and idempotency key, so a retry after a crash or a lost answer pays once. A
clawback takes what the wallet has available, decided and stored before it is asked for (a
retry asks for the same amount); the rest is owed, so a wallet never goes below zero.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.db import UnitOfWork
from ledgerline.core.idempotency import IDEMPOTENCY_HEADER
from ledgerline.core.money import format_amount, parse_amount
from ledgerline.rewards import domain as d
from ledgerline.rewards import repository
from ledgerline.rewards.domain import RewardStatus
from ledgerline.rewards.outcomes import REWARDS_OWED
from ledgerline.rewards.settings import RewardsSettings

_log = logging.getLogger(__name__)
REWARD_PAYMENTS_PATH = "/v1/reward-payments"
CLAWBACK_PAYMENTS_PATH = "/v1/reward-clawbacks"


# Answers that will never change for the same request: the reward or clawback is given up.
# 409 `idempotency_key_in_flight` is not among them: the first request is still being written.
REFUSED_FOR_GOOD = frozenset({400, 422})
REFUSED_FOR_GOOD_CODES = frozenset({"not_rewardable", "payment_exists"})
Refuse = Callable[[AsyncConnection, Row[Any], str], Awaitable[None]]


class RewardPayer:
    def __init__(
        self,
        *,
        make_uow: Callable[[], UnitOfWork],
        payments: httpx.AsyncClient,
        wallets: httpx.AsyncClient,
        settings: RewardsSettings,
    ) -> None:
        self._make_uow = make_uow
        self._payments = payments
        self._wallets = wallets
        self._settings = settings

    async def run(self) -> None:
        while True:
            settled = await self.pay_round()
            # A full round goes again at once; one that left work behind (the payment service
            # busy or away) waits, rather than ask again and again.
            if settled < self._settings.payer_batch_size_max:
                await asyncio.sleep(self._settings.payer_interval_s)

    async def pay_round(self) -> int:
        """One round: every reward and clawback not yet asked for, up to the batch size each;
        returns the most either list settled (asked for, owed or given up)."""
        limit = self._settings.payer_batch_size_max
        async with self._make_uow() as uow:
            rewards = await repository.unrequested_rewards(uow.connection, limit)
            clawbacks = await repository.unrequested_clawbacks(uow.connection, limit)
        rewarded = 0
        for reward in rewards:
            body = self._reward_body(reward)
            asked = await self._ask(
                reward, body, REWARD_PAYMENTS_PATH, repository.mark_reward_requested, _refuse_reward
            )
            rewarded += asked
        clawed = 0
        for clawback in clawbacks:
            clawed += await self._claw_back(clawback)
        return max(rewarded, clawed)

    def _reward_body(self, reward: Row[Any]) -> dict[str, Any]:
        return {
            "id": str(reward.id),
            "wallet_id": str(reward.wallet_id),
            "amount": format_amount(reward.amount_minor, reward.currency),
            "currency": reward.currency,
            "rewarded_payment_id": str(reward.source_payment_id),
        }

    async def _claw_back(self, clawback: Row[Any]) -> bool:
        amount = clawback.amount_minor
        if amount is None:
            available = await self._available_minor(clawback.wallet_id, clawback.currency)
            taken, _ = d.split_clawback(clawback.due_minor, available)
            async with self._make_uow() as uow:
                decided = await repository.decide_clawback(uow.connection, clawback.id, taken)
                if decided is not None and decided.amount_minor == 0:
                    # Nothing to take: all of it is owed, and no payment is made.
                    await repository.settle_clawback(uow.connection, clawback.id, succeeded=False)
                    due, currency = clawback.due_minor, clawback.currency
                    uow.after_commit(lambda: REWARDS_OWED.labels(currency).inc(due))
                await uow.commit()
            if decided is None or decided.amount_minor == 0:
                return True
            amount = decided.amount_minor
        body = {
            "id": str(clawback.id),
            "wallet_id": str(clawback.wallet_id),
            "amount": format_amount(amount, clawback.currency),
            "currency": clawback.currency,
            "reward_payment_id": str(clawback.reward_id),
        }
        return await self._ask(
            clawback, body, CLAWBACK_PAYMENTS_PATH, repository.mark_clawback_requested, _refuse_clawback
        )

    async def _available_minor(self, wallet_id: object, currency: str) -> int:
        response = await self._wallets.get(f"/v1/wallets/{wallet_id}")
        response.raise_for_status()
        return parse_amount(response.json()["available"], currency, allow_negative=True)

    async def _ask(self, row: Row[Any], body: dict[str, Any], path: str, mark: Any, refuse: Refuse) -> bool:
        """Ask once; a passing failure is logged and the next round asks again with the same key,
        a refusal for good gives the reward or clawback up."""
        try:
            response = await self._payments.post(path, json=body, headers={IDEMPOTENCY_HEADER: str(row.id)})
        except httpx.HTTPError as error:
            _log.warning("payment for %s not asked yet: %s", row.id, error)
            return False
        if response.status_code in (200, 202):
            async with self._make_uow() as uow:
                await mark(uow.connection, row.id)
                await uow.commit()
            return True
        code = _problem_code(response)
        _log.warning("payment service answered %s for %s: %s", response.status_code, row.id, response.text[:500])
        if response.status_code not in REFUSED_FOR_GOOD and code not in REFUSED_FOR_GOOD_CODES:
            return False
        async with self._make_uow() as uow:
            await refuse(uow.connection, row, code or str(response.status_code))
            await uow.commit()
        return True


def _problem_code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("code")
    except ValueError:
        return None
    return str(code) if code else None


async def _refuse_reward(connection: AsyncConnection, reward: Row[Any], reason: str) -> None:
    settled = await repository.settle_reward(connection, reward.id, RewardStatus.FAILED, f"refused:{reason}")
    if settled is not None:
        await repository.release_month(connection, settled)
        await repository.drop_clawbacks(connection, reward.id)


async def _refuse_clawback(connection: AsyncConnection, clawback: Row[Any], reason: str) -> None:
    await repository.settle_clawback(connection, clawback.id, succeeded=False)
