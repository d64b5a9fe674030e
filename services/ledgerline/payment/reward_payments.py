"""Reward and clawback payments, asked for by the rewards service with its own token.

A reward credits a wallet from the currency's rewards account; a clawback takes part of a
reward back after a refund. The rewards service names each payment's id (its reward's or
clawback's id, also the idempotency key), so the outcome it consumes names its own row and a
retry pays once. Each is linked to the payment it is about (`original_payment_id`) and checked
against it: a reward only for a completed payment and one of its wallets, a clawback never
more than what is left of its reward.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core import scopes
from ledgerline.core.auth import Principal, require_scopes
from ledgerline.core.money import format_amount, parse_positive_amount
from ledgerline.core.money_schemas import Currency, amount_field, amounts_in_currency
from ledgerline.core.openapi import DeclaredProblem, problem_responses
from ledgerline.payment import domain as d
from ledgerline.payment import repository
from ledgerline.payment.api import IdempotencyKey, PaymentView, accept_request
from ledgerline.payment.domain import Payment, PaymentType, Status
from ledgerline.payment.service import Start, existing_wallet
from ledgerline.payment.wiring import PaymentCollaborators, PaymentDep

router = APIRouter(prefix="/v1", tags=["rewards"])
RewardWriter = Annotated[Principal, Depends(require_scopes(scopes.REWARDS_WRITE))]
_AMOUNT_IN_CURRENCY = ConfigDict(json_schema_extra=amounts_in_currency("amount"))
REWARDED_TYPES = frozenset({PaymentType.TRANSFER, PaymentType.DEPOSIT, PaymentType.WITHDRAWAL})
NOT_REWARDABLE = DeclaredProblem(409, "not_rewardable", "Payment cannot be rewarded", "the payment is not completed")
CLAWBACK_EXCEEDS_REWARD = DeclaredProblem(422, "clawback_exceeds_reward", "Clawback exceeds what is left of the reward")
PAYMENT_EXISTS = DeclaredProblem(409, "payment_exists", "A payment with this id exists", "use a new id")


class _RewardMoneyRequest(BaseModel):
    """What a reward and a clawback both name: their own id, the wallet and the money."""

    model_config = _AMOUNT_IN_CURRENCY

    id: uuid.UUID
    wallet_id: uuid.UUID
    amount: str = amount_field()
    currency: Currency


class RewardPaymentRequest(_RewardMoneyRequest):
    rewarded_payment_id: uuid.UUID


class ClawbackPaymentRequest(_RewardMoneyRequest):
    reward_payment_id: uuid.UUID


async def _original(service: PaymentCollaborators, payment_id: uuid.UUID, types: frozenset[PaymentType]) -> Payment:
    async with service.engine.connect() as connection:
        original = await repository.get(connection, payment_id)
    if original is None:
        raise NOT_REWARDABLE.problem(f"no payment {payment_id}")
    if original.type not in types or original.status is not Status.COMPLETED:
        raise NOT_REWARDABLE.problem(f"payment {payment_id} is a {original.status.value} {original.type.value}")
    return original


async def _new_id(connection: AsyncConnection, payment: Payment) -> None:
    if await repository.get(connection, payment.id) is not None:
        raise PAYMENT_EXISTS.problem(f"payment {payment.id} exists under another idempotency key")


@router.post(
    "/reward-payments",
    status_code=202,
    response_model=PaymentView,
    summary="Pay a reward into a wallet from the rewards account (rewards service)",
    responses=problem_responses(NOT_REWARDABLE, PAYMENT_EXISTS),
)
async def create_reward_payment(
    request: Request,
    body: RewardPaymentRequest,
    service: PaymentDep,
    principal: RewardWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def build() -> Start:
        amount = parse_positive_amount(body.amount, body.currency)
        original = await _original(service, body.rewarded_payment_id, REWARDED_TYPES)
        if body.wallet_id not in (original.source_wallet_id, original.destination_wallet_id):
            raise NOT_REWARDABLE.problem(f"wallet {body.wallet_id} took no part in payment {original.id}")
        await existing_wallet(service.wallets, body.wallet_id, body.currency, role="rewarded")
        return d.start(
            body.id,
            PaymentType.REWARD,
            amount,
            body.currency,
            destination=body.wallet_id,
            original_payment_id=original.id,
        )

    return await accept_request(request, service, principal, idempotency_key, body, build, _new_id)


@router.post(
    "/reward-clawbacks",
    status_code=202,
    response_model=PaymentView,
    summary="Take part of a reward back from its wallet after a refund (rewards service)",
    responses=problem_responses(NOT_REWARDABLE, CLAWBACK_EXCEEDS_REWARD, PAYMENT_EXISTS),
)
async def create_clawback_payment(
    request: Request,
    body: ClawbackPaymentRequest,
    service: PaymentDep,
    principal: RewardWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def build() -> Start:
        amount = parse_positive_amount(body.amount, body.currency)
        reward = await _original(service, body.reward_payment_id, frozenset({PaymentType.REWARD}))
        if body.wallet_id != reward.destination_wallet_id or body.currency != reward.currency:
            raise NOT_REWARDABLE.problem(f"reward {reward.id} was paid into another wallet")
        return d.start(
            body.id,
            PaymentType.REWARD_CLAWBACK,
            amount,
            body.currency,
            source=body.wallet_id,
            original_payment_id=reward.id,
        )

    async def check(connection: AsyncConnection, clawback: Payment) -> None:
        await _new_id(connection, clawback)
        # The reward's row lock serialises concurrent clawbacks of one reward.
        reward = await repository.get(connection, body.reward_payment_id, for_update=True)
        if reward is None:
            raise NOT_REWARDABLE.problem(f"no payment {body.reward_payment_id}")
        taken = await repository.refunded_minor(connection, reward.id, PaymentType.REWARD_CLAWBACK)
        if taken + clawback.amount_minor > reward.amount_minor:
            left = format_amount(reward.amount_minor - taken, reward.currency)
            raise CLAWBACK_EXCEEDS_REWARD.problem(f"at most {left} {reward.currency} of the reward is left")

    return await accept_request(request, service, principal, idempotency_key, body, build, check)
