"""Exchange rates (set by the operator) and quotes (asked for by customers) over HTTP.

A rate says what one unit of `base` buys of `quote`; only that direction: the opposite one is
a pair of its own, so each direction's rate (and its spread) is the operator's choice. A quote
is read by the customer it was given to and by an admin; another customer's answers 404, like a
missing one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Row

from ledgerline.core.auth import AdminPrincipal, Principal, require_scopes
from ledgerline.core.currencies import EXPONENTS
from ledgerline.core.money import MoneyError, currency_exponent, format_amount, parse_positive_amount
from ledgerline.core.money_schemas import CURRENCY_PATTERN, Currency, amount_field, amounts_in_currency
from ledgerline.core.openapi import DeclaredProblem, problem_responses
from ledgerline.core.problems import Problem, not_found
from ledgerline.payment import fx, fx_store
from ledgerline.payment.domain import PaymentRefused
from ledgerline.payment.settings import PaymentSettings
from ledgerline.payment.wiring import PaymentDep

router = APIRouter(prefix="/v1", tags=["fx"])
QuoteWriter = Annotated[Principal, Depends(require_scopes("payments:write"))]
QuoteReader = Annotated[Principal, Depends(require_scopes("payments:read"))]
PathCurrency = Annotated[
    str, Path(pattern=CURRENCY_PATTERN, examples=["EUR"], json_schema_extra={"enum": sorted(EXPONENTS)})
]

RATE_NOT_VALID = DeclaredProblem(422, "rate_not_valid", "Rate is not valid", "rate '0' must be greater than 0")
TOO_MANY_RATES = DeclaredProblem(422, "too_many_rates", "Too many currency pairs", "at most 1000 pairs")
UNKNOWN_CURRENCY = DeclaredProblem(422, "unknown_currency", "Unknown currency", "unknown currency code 'ABC'")
SAME_CURRENCY = DeclaredProblem(422, fx.SameCurrency.code, fx.SameCurrency.title)
RATE_UNAVAILABLE = DeclaredProblem(422, fx.RateUnavailable.code, fx.RateUnavailable.title, "no rate from EUR to JPY")
QUOTE_TOO_SMALL = DeclaredProblem(422, fx.QuoteTooSmall.code, fx.QuoteTooSmall.title)
QUOTE_TOO_LARGE = DeclaredProblem(422, fx.QuoteTooLarge.code, fx.QuoteTooLarge.title)
AMOUNT_NOT_VALID = DeclaredProblem(422, "too_many_decimals", "Amount is not valid", "amount: '1.234' has 3 decimals")
ROUNDING_RULE = (
    "The destination amount is the source amount times the rate, rounded DOWN to the destination"
    " currency's minor unit (JPY has none, EUR and USD cents): 10.00 EUR at 1.08567 is 10.85 USD"
    " (10.8567 rounded down), 10.00 USD at 151.234 is 1512 JPY. Rates have at most 8 decimals."
)


class RateRequest(BaseModel):
    rate: str = Field(
        min_length=1,
        max_length=20,
        pattern=fx.RATE_PATTERN,
        examples=["1.0856"],
        description=f"What one unit of base buys of quote: a decimal string, at most {fx.RATE_DECIMALS} decimals",
    )


class RateView(BaseModel):
    base: str
    quote: str
    rate: str
    updated_at: datetime


class RateList(BaseModel):
    items: list[RateView] = Field(description="Every pair, by base then quote")


class QuoteRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra=amounts_in_currency("amount", currency_field="source_currency"))

    source_currency: Currency
    destination_currency: Currency
    amount: str = amount_field(description="What the source pays, in the source currency")
    valid_for_s: int | None = Field(
        None, ge=1, description="Seconds the quote holds, at most (and by default) the service's quote lifetime"
    )


class QuoteView(BaseModel):
    id: uuid.UUID = Field(description="Pass as `quote_id` to `POST /v1/transfers`, once")
    source_currency: str
    destination_currency: str
    rate: str
    source_amount: str
    destination_amount: str = Field(description="The source amount times the rate, rounded down")
    created_at: datetime
    expires_at: datetime
    payment_id: uuid.UUID | None = Field(None, description="The transfer that used the quote")


def _rate_view(row: Row[Any]) -> RateView:
    return RateView(base=row.base, quote=row.quote, rate=fx.format_rate(row.rate_scaled), updated_at=row.updated_at)


def _quote_view(quote: fx.Quote) -> QuoteView:
    return QuoteView(
        id=quote.id,
        source_currency=quote.source_currency,
        destination_currency=quote.destination_currency,
        rate=fx.format_rate(quote.rate_scaled),
        source_amount=format_amount(quote.source_amount_minor, quote.source_currency),
        destination_amount=format_amount(quote.destination_amount_minor, quote.destination_currency),
        created_at=quote.created_at,
        expires_at=quote.expires_at,
        payment_id=quote.payment_id,
    )


def _known(*currencies: str) -> None:
    try:
        for currency in currencies:
            currency_exponent(currency)
    except MoneyError as error:
        raise UNKNOWN_CURRENCY.problem(str(error)) from None


@router.put(
    "/fx/rates/{base}/{quote}",
    response_model=RateView,
    summary="Set the rate of a currency pair (admin)",
    responses=problem_responses(RATE_NOT_VALID, TOO_MANY_RATES, UNKNOWN_CURRENCY, SAME_CURRENCY),
)
async def set_rate(
    base: PathCurrency, quote: PathCurrency, body: RateRequest, service: PaymentDep, _: AdminPrincipal
) -> RateView:
    _known(base, quote)
    if base == quote:
        raise SAME_CURRENCY.problem(f"{base} to {quote} needs no rate")
    try:
        rate_scaled = fx.parse_rate(body.rate)
    except fx.RateNotValid as error:
        raise RATE_NOT_VALID.problem(str(error)) from None
    limit = service.settings.fx_rates_max
    async with service.make_uow() as uow:
        updated_at = await fx_store.put_rate_within(uow.connection, base, quote, rate_scaled, limit)
        if updated_at is None:
            raise TOO_MANY_RATES.problem(f"at most {limit} pairs")
        await uow.commit()
    return RateView(base=base, quote=quote, rate=fx.format_rate(rate_scaled), updated_at=updated_at)


@router.get("/fx/rates", response_model=RateList, summary="Every exchange rate")
async def list_rates(service: PaymentDep, _: QuoteReader) -> RateList:
    async with service.engine.connect() as connection:
        rows = await fx_store.list_rates(connection, service.settings.fx_rates_max)
    return RateList(items=[_rate_view(row) for row in rows])


def _valid_for(requested_s: int | None, settings: PaymentSettings) -> timedelta:
    return timedelta(seconds=min(requested_s or settings.quote_ttl_s, settings.quote_ttl_s))


@router.post(
    "/quotes",
    status_code=201,
    response_model=QuoteView,
    summary="A quote for a cross-currency transfer",
    description=ROUNDING_RULE,
    responses=problem_responses(
        SAME_CURRENCY, RATE_UNAVAILABLE, QUOTE_TOO_SMALL, QUOTE_TOO_LARGE, AMOUNT_NOT_VALID, UNKNOWN_CURRENCY
    ),
)
async def request_quote(
    body: QuoteRequest, service: PaymentDep, principal: QuoteWriter, response: Response
) -> QuoteView:
    _known(body.source_currency, body.destination_currency)
    try:
        amount_minor = parse_positive_amount(body.amount, body.source_currency)
    except MoneyError as error:
        raise Problem(422, error.code, "Amount is not valid", f"amount: {error}") from None
    async with service.make_uow() as uow:
        rate = await fx_store.get_rate(uow.connection, body.source_currency, body.destination_currency)
        try:
            quote = fx.make_quote(
                uuid.uuid4(),
                principal.subject,
                (amount_minor, body.source_currency),
                body.destination_currency,
                rate,
                now=datetime.now(UTC),
                valid_for=_valid_for(body.valid_for_s, service.settings),
            )
        except PaymentRefused as refused:
            raise Problem(422, refused.code, refused.title, refused.detail) from None
        await fx_store.add_quote(uow.connection, quote)
        await uow.commit()
    response.headers["Location"] = f"/v1/quotes/{quote.id}"
    return _quote_view(quote)


@router.get("/quotes/{quote_id}", response_model=QuoteView, summary="One of the caller's quotes")
async def read_quote(quote_id: uuid.UUID, service: PaymentDep, principal: QuoteReader) -> QuoteView:
    async with service.engine.connect() as connection:
        quote = await fx_store.get_quote(connection, quote_id)
    if quote is None or not (principal.owns(quote.owner_id) or principal.is_admin):
        raise not_found("quote", quote_id)
    return _quote_view(quote)
