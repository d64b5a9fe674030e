"""Bank simulator: card charges, payouts and charge refunds with configurable latency and failures.

It stands in for an external bank, so it is deliberately simple: results are kept in memory and
deduplicated by the caller's payment id (the same id always gets the same answer). Outcomes are
driven by the request: card token `tok_declined` is declined, a bank account containing `FAIL`
fails. `failure_rate_percent` answers that share of requests with 503, to exercise the caller's
retries and circuit breaker; `PUT /v1/admin/behaviour` changes latency and failures at run time.

Like every Ledgerline service it checks access tokens: charges, payouts and refunds need the
`bank:write` scope (the payment service's client), the behaviour and the operations log `admin`.

`GET /v1/fx/rates` is the bank's rate feed: fixed demonstration rates, one per direction, that the
payment service loads into its rates table when its feed is on.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from ledgerline.core import scopes
from ledgerline.core.api_docs import install_api_docs
from ledgerline.core.auth import AdminPrincipal, install_token_verifier, require_scopes, verifier_from_settings
from ledgerline.core.openapi import DeclaredProblem, install_problem_docs, post_creating
from ledgerline.core.problems import install_problem_handlers
from ledgerline.core.settings import TokenSettings
from ledgerline.core.telemetry import install_http_telemetry

DECLINED_TOKEN = "tok_declined"
FAILING_ACCOUNT_MARKER = "FAIL"
RESULTS_MAX = 1_000_000
BANK_UNAVAILABLE = DeclaredProblem(503, "bank_unavailable", "Simulated bank outage", headers=("Retry-After",))
BANK_FULL = DeclaredProblem(507, "bank_full", "Simulator result store is full")
CHARGE_NOT_FOUND = DeclaredProblem(404, "charge_not_found", "No approved charge with this id")
# What one unit of the first currency buys of the second; 10.00 EUR buys 10.85 USD (10.8567).
FEED_RATES = (
    ("EUR", "USD", "1.08567"),
    ("USD", "EUR", "0.92"),
    ("USD", "JPY", "151.234"),
    ("JPY", "USD", "0.0066"),
    ("EUR", "JPY", "164.19"),
    ("JPY", "EUR", "0.00609"),
)


class BankSimSettings(TokenSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_BANKSIM_", extra="ignore")

    latency_ms: int = Field(0, ge=0, le=60_000)
    failure_rate_percent: int = Field(0, ge=0, le=100)


class FeedRate(BaseModel):
    base: str
    quote: str
    rate: str = Field(description="What one unit of base buys of quote, a decimal string")


class RateFeed(BaseModel):
    items: list[FeedRate]


class Behaviour(BaseModel):
    latency_ms: int = Field(0, ge=0, le=60_000)
    failure_rate_percent: int = Field(0, ge=0, le=100)


class Charge(BaseModel):
    id: str = Field(min_length=1, max_length=100)
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern="^[A-Z]{3}$")
    card_token: str = Field(min_length=1, max_length=200)


class BankResult(BaseModel):
    """What the bank answers, the first time and every time after for the same id."""

    id: str
    amount_minor: int | None = None
    currency: str | None = None
    status: Literal["approved", "declined", "paid", "failed", "refunded"]
    reason: str | None


class Payout(BaseModel):
    id: str = Field(min_length=1, max_length=100)
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern="^[A-Z]{3}$")
    bank_account: str = Field(min_length=1, max_length=64)


def create_app(settings: BankSimSettings | None = None) -> FastAPI:
    settings = settings or BankSimSettings()
    behaviour = Behaviour(latency_ms=settings.latency_ms, failure_rate_percent=settings.failure_rate_percent)
    results: dict[str, dict[str, Any]] = {}
    # Local docs assets, as for every service (see ledgerline.core.api_docs).
    app = FastAPI(title="Ledgerline bank simulator", description=__doc__, docs_url=None, redoc_url=None)
    install_api_docs(app)
    install_problem_handlers(app)
    install_problem_docs(app)
    install_http_telemetry(app, "banksim")
    # Only client-credentials tokens come here, and those name no session to revoke: no Redis.
    install_token_verifier(app, verifier_from_settings(settings, None))
    bank_caller = [Depends(require_scopes(scopes.BANK_WRITE))]

    async def simulate() -> None:
        if behaviour.latency_ms:
            await asyncio.sleep(behaviour.latency_ms / 1000)
        if behaviour.failure_rate_percent and random.randrange(100) < behaviour.failure_rate_percent:
            raise BANK_UNAVAILABLE.problem()

    def remember(key: str, result: dict[str, Any]) -> JSONResponse:
        if len(results) >= RESULTS_MAX:
            raise BANK_FULL.problem()
        stored = results.setdefault(key, result)
        return JSONResponse(stored, status_code=201)

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.put("/v1/admin/behaviour")
    async def set_behaviour(body: Behaviour, _: AdminPrincipal) -> Behaviour:
        behaviour.latency_ms, behaviour.failure_rate_percent = body.latency_ms, body.failure_rate_percent
        return behaviour

    def bank_operation(path: str, *problems: DeclaredProblem) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return post_creating(
            app.router, path, BankResult, BANK_UNAVAILABLE, BANK_FULL, *problems, dependencies=bank_caller
        )

    @bank_operation("/v1/charges")
    async def charge(body: Charge) -> JSONResponse:
        await simulate()
        declined = body.card_token == DECLINED_TOKEN
        return remember(
            f"charge:{body.id}", _outcome(body, ("declined", "card_declined") if declined else ("approved", None))
        )

    @bank_operation("/v1/payouts")
    async def payout(body: Payout) -> JSONResponse:
        await simulate()
        failed = FAILING_ACCOUNT_MARKER in body.bank_account.upper()
        return remember(f"payout:{body.id}", _outcome(body, ("failed", "payout_failed") if failed else ("paid", None)))

    @bank_operation("/v1/charges/{charge_id}/refund", CHARGE_NOT_FOUND)
    async def refund(charge_id: str) -> JSONResponse:
        await simulate()
        original = results.get(f"charge:{charge_id}")
        if original is None or original["status"] != "approved":
            raise CHARGE_NOT_FOUND.problem()
        return remember(f"refund:{charge_id}", {"id": charge_id, "status": "refunded", "reason": None})

    @app.get("/v1/fx/rates", response_model=RateFeed, dependencies=bank_caller, summary="The bank's exchange rates")
    async def rates() -> RateFeed:
        return RateFeed(items=[FeedRate(base=base, quote=quote, rate=rate) for base, quote, rate in FEED_RATES])

    @app.get("/v1/operations")
    async def operations(_: AdminPrincipal) -> dict[str, Any]:
        return {"count": len(results), "items": list(results.values())[-100:]}

    return app


def _outcome(body: Charge | Payout, status_and_reason: tuple[str, str | None]) -> dict[str, Any]:
    status, reason = status_and_reason
    return {
        "id": body.id,
        "amount_minor": body.amount_minor,
        "currency": body.currency,
        "status": status,
        "reason": reason,
    }
