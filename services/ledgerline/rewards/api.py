"""Rewards HTTP API: cashback rules (admin) and a wallet's rewards.

Rules are the operator's (`admin` scope). A wallet's rewards are read by its owner or an admin;
another customer's wallet answers 404, like one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Row

from ledgerline.core.auth import AdminPrincipal, Principal, require_scopes
from ledgerline.core.http import Rfc3339Time, check_page_size, decode_cursor, encode_cursor
from ledgerline.core.money import MoneyError, format_amount, parse_amount
from ledgerline.core.money_schemas import Currency, amount_field, amounts_in_currency
from ledgerline.core.openapi import DeclaredProblem, problem_responses
from ledgerline.core.problems import Problem, not_found
from ledgerline.rewards import repository
from ledgerline.rewards.domain import RewardedType, Rule, RuleError
from ledgerline.rewards.outcomes import initialise_metrics
from ledgerline.rewards.wiring import RewardsDep

router = APIRouter(prefix="/v1", tags=["rewards"])
RewardsReader = Annotated[Principal, Depends(require_scopes("rewards:read"))]
PAGE_SIZE_DEFAULT = 50
CURSOR_KIND = "reward"
RULE_CURSOR_KIND = "rule"
WALLET_NOT_FOUND = DeclaredProblem(404, "unknown_wallet", "Unknown wallet", "wallet ... is not one of yours")
RULE_NOT_VALID = DeclaredProblem(422, "rule_not_valid", "Rule is not valid", "valid_to must be after valid_from")
TOO_MANY_RULES = DeclaredProblem(422, "too_many_rules", "Too many rules", "at most 1000 rules")
AMOUNT_NOT_VALID = DeclaredProblem(422, "too_many_decimals", "Amount is not valid", "amount: '1.234' has 3 decimals")


class RuleRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra=amounts_in_currency("minimum_amount", "bonus", "monthly_cap", zero_allowed=True)
    )

    payment_type: RewardedType
    currency: Currency
    minimum_amount: str = amount_field(zero_allowed=True, description="Payments below it earn nothing")
    rate_bps: int = Field(ge=0, le=10_000, description="Percentage in basis points: 150 is 1.5%")
    bonus: str = amount_field(zero_allowed=True, description="Fixed amount added to every reward")
    monthly_cap: str = amount_field(description="Most the rule pays one holder in a calendar month (UTC)")
    valid_from: Rfc3339Time
    valid_to: Rfc3339Time | None = Field(None, description="Exclusive; open-ended when absent")


class RuleView(BaseModel):
    id: uuid.UUID
    payment_type: RewardedType
    currency: str
    minimum_amount: str
    rate_bps: int
    bonus: str
    monthly_cap: str
    valid_from: datetime
    valid_to: datetime | None


class RulePage(BaseModel):
    items: list[RuleView]
    next_cursor: str | None = None


class ClawbackView(BaseModel):
    id: uuid.UUID
    refund_payment_id: uuid.UUID
    due: str
    amount: str | None = Field(description="Taken from the wallet; absent until decided")
    owed: str
    status: Literal["pending", "completed", "owed"]


class RewardView(BaseModel):
    id: uuid.UUID = Field(description="Also the id of the reward's payment")
    rule_id: uuid.UUID
    source_payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount: str
    currency: str
    status: Literal["pending", "paid", "failed"]
    failure_reason: str | None
    clawed_back: str
    owed: str
    clawbacks: list[ClawbackView]
    created_at: datetime


class RewardPage(BaseModel):
    items: list[RewardView]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; absent on the last")


def _minor(name: str, text: str, currency: str) -> int:
    try:
        return parse_amount(text, currency)
    except MoneyError as error:
        raise Problem(422, error.code, "Amount is not valid", f"{name}: {error}") from None


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Problem(422, "naive_time", f"{name} needs a time zone", "for example 2026-01-31T23:59:59Z")
    return value


def _rule_view(rule: Rule) -> RuleView:
    return RuleView(
        id=rule.id,
        payment_type=rule.payment_type,
        currency=rule.currency,
        minimum_amount=format_amount(rule.amount_min_minor, rule.currency),
        rate_bps=rule.rate_bps,
        bonus=format_amount(rule.bonus_minor, rule.currency),
        monthly_cap=format_amount(rule.monthly_cap_minor, rule.currency),
        valid_from=rule.valid_from,
        valid_to=rule.valid_to,
    )


@router.post(
    "/rewards/rules",
    status_code=201,
    response_model=RuleView,
    summary="Add a cashback rule (admin)",
    responses=problem_responses(RULE_NOT_VALID, TOO_MANY_RULES, AMOUNT_NOT_VALID),
)
async def create_rule(body: RuleRequest, service: RewardsDep, response: Response, _: AdminPrincipal) -> RuleView:
    settings = service.settings
    try:
        rule = Rule(
            id=uuid.uuid4(),
            payment_type=body.payment_type,
            currency=body.currency,
            amount_min_minor=_minor("minimum_amount", body.minimum_amount, body.currency),
            rate_bps=body.rate_bps,
            bonus_minor=_minor("bonus", body.bonus, body.currency),
            monthly_cap_minor=_minor("monthly_cap", body.monthly_cap, body.currency),
            valid_from=_aware("valid_from", body.valid_from),  # type: ignore[arg-type]  # Required field.
            valid_to=_aware("valid_to", body.valid_to),
        )
    except RuleError as error:
        raise RULE_NOT_VALID.problem(str(error)) from None
    async with service.make_uow() as uow:
        if await repository.count_rules(uow.connection) >= settings.rules_max:
            raise TOO_MANY_RULES.problem(f"at most {settings.rules_max} rules")
        await repository.add_rule(uow.connection, rule)
        await uow.commit()
    service.rules.invalidate()
    initialise_metrics([rule.currency])
    response.headers["Location"] = f"/v1/rewards/rules/{rule.id}"
    return _rule_view(rule)


@router.get("/rewards/rules", response_model=RulePage, summary="Cashback rules (admin), in id order")
async def list_rules(
    service: RewardsDep,
    _: AdminPrincipal,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> dict[str, Any]:
    check_page_size(limit, service.settings.page_size_max)
    after = _rule_position(cursor) if cursor else None
    async with service.engine.connect() as connection:
        found = await repository.list_rules(connection, after=after, limit=limit)
    last = found[-1] if len(found) == limit else None
    return {
        "items": [_rule_view(rule).model_dump(mode="json") for rule in found],
        "next_cursor": encode_cursor(RULE_CURSOR_KIND, str(last.id)) if last else None,
    }


def _rule_position(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(decode_cursor(cursor, RULE_CURSOR_KIND))
    except ValueError:
        raise Problem(400, "invalid_cursor", "Cursor is not valid", "use next_cursor from a previous page") from None


@router.get("/rewards/rules/{rule_id}", response_model=RuleView, summary="One cashback rule (admin)")
async def read_rule(rule_id: uuid.UUID, service: RewardsDep, _: AdminPrincipal) -> RuleView:
    async with service.engine.connect() as connection:
        rule = await repository.get_rule(connection, rule_id)
    if rule is None:
        raise not_found("rule", rule_id)
    return _rule_view(rule)


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, _, reward_id = decode_cursor(cursor, CURSOR_KIND).partition("|")
    try:
        return datetime.fromisoformat(at), uuid.UUID(reward_id)
    except ValueError:
        raise Problem(400, "invalid_cursor", "Cursor is not valid", "use next_cursor from a previous page") from None


def _clawback_view(row: Row[Any], currency: str) -> ClawbackView:
    return ClawbackView(
        id=row.id,
        refund_payment_id=row.refund_payment_id,
        due=format_amount(row.due_minor, currency),
        amount=None if row.amount_minor is None else format_amount(row.amount_minor, currency),
        owed=format_amount(row.owed_minor, currency),
        status=row.status,
    )


def _reward_view(row: Row[Any], clawbacks: list[Row[Any]]) -> dict[str, Any]:
    return RewardView(
        id=row.id,
        rule_id=row.rule_id,
        source_payment_id=row.source_payment_id,
        wallet_id=row.wallet_id,
        amount=format_amount(row.amount_minor, row.currency),
        currency=row.currency,
        status=row.status,
        failure_reason=row.failure_reason,
        clawed_back=format_amount(row.clawed_back_minor, row.currency),
        owed=format_amount(row.owed_minor, row.currency),
        clawbacks=[_clawback_view(c, row.currency) for c in clawbacks],
        created_at=row.created_at,
    ).model_dump(mode="json")


@router.get(
    "/rewards",
    response_model=RewardPage,
    summary="A wallet's rewards, newest first (keyset pagination)",
    responses=problem_responses(WALLET_NOT_FOUND),
)
async def list_rewards(
    service: RewardsDep,
    principal: RewardsReader,
    wallet_id: Annotated[uuid.UUID, Query(description="The rewarded wallet")],
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> dict[str, Any]:
    check_page_size(limit, service.settings.page_size_max)
    if not principal.may_see(await service.wallet_owners.owner_of(wallet_id)):
        raise WALLET_NOT_FOUND.problem(f"wallet {wallet_id} is not one of yours")
    before = _position(cursor) if cursor else None
    async with service.engine.connect() as connection:
        rows = await repository.list_rewards(connection, wallet_id, before=before, limit=limit)
        clawbacks = await repository.clawbacks_of(connection, [row.id for row in rows])
    last = rows[-1] if len(rows) == limit else None
    return {
        "items": [_reward_view(row, clawbacks[row.id]) for row in rows],
        "next_cursor": encode_cursor(CURSOR_KIND, f"{last.created_at.isoformat()}|{last.id}") if last else None,
    }
