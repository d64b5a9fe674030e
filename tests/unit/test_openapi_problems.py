"""The OpenAPI rewriting declares the problems an operation can answer, and the money schemas
accept exactly the amounts the money parser accepts."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, FastAPI, Header
from hypothesis import given
from hypothesis import strategies as st

from ledgerline.core.auth import CurrentPrincipal
from ledgerline.core.currencies import EXPONENTS
from ledgerline.core.money import MoneyError, parse_amount
from ledgerline.core.money_schemas import amount_pattern, any_amount_pattern
from ledgerline.core.openapi import (
    PROBLEM_MEDIA_TYPE,
    DeclaredProblem,
    install_problem_docs,
    problem_responses,
)

EXPONENT_CURRENCY = {exponent: code for code, exponent in sorted(EXPONENTS.items())}
TEAPOT = DeclaredProblem(409, "teapot_busy", "The teapot is busy")


def _app() -> FastAPI:
    router = APIRouter()

    @router.post("/v1/pots/{pot_id}/brews", responses=problem_responses(TEAPOT))
    async def brew(pot_id: str, key: str | None = Header(None, alias="Idempotency-Key")) -> dict[str, str]:
        return {}

    @router.get("/v1/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    install_problem_docs(app, page_size_max=50)
    return app


def _codes(response: dict[str, Any]) -> set[str]:
    return set(response["content"][PROBLEM_MEDIA_TYPE]["examples"])


def test_operations_declare_the_problems_their_features_imply() -> None:
    document = _app().openapi()
    brew = document["paths"]["/v1/pots/{pot_id}/brews"]["post"]
    responses = brew["responses"]
    assert _codes(responses["404"]) == {"not_found"}
    assert _codes(responses["400"]) == {"idempotency_key_missing", "idempotency_key_invalid"}
    assert _codes(responses["409"]) == {"idempotency_key_in_flight", "teapot_busy"}
    assert {"validation_error", "idempotency_key_reused"} <= _codes(responses["422"])
    assert responses["503"]["headers"]["Retry-After"]["required"] is True
    key = next(p for p in brew["parameters"] if p["name"] == "Idempotency-Key")
    assert key["required"] is True and key["schema"]["maxLength"] == 255
    for response in responses.values():
        if "content" in response and not response["description"].startswith("Successful"):
            assert set(response["content"]) == {PROBLEM_MEDIA_TYPE}
    me = document["paths"]["/v1/me"]["get"]["responses"]
    assert me["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert _codes(me["403"]) == {"insufficient_scope"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "code"]


def _accepted(text: str, currency: str, *, zero_allowed: bool) -> bool:
    try:
        minor = parse_amount(text, currency)
    except MoneyError:
        return False
    return minor > 0 or (zero_allowed and minor == 0)


AMOUNT_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{1,17}(\.[0-9]{0,6})?", fullmatch=True),
    st.sampled_from(["0", "0.0", "0.01", "1000000000000000", "10000000000000.00", "10000000000000.01", "1e3", ""]),
)


@given(text=AMOUNT_TEXT, exponent=st.sampled_from(sorted(EXPONENT_CURRENCY)), zero_allowed=st.booleans())
def test_amount_pattern_accepts_exactly_what_the_parser_accepts(text: str, exponent: int, zero_allowed: bool) -> None:
    pattern = re.compile(amount_pattern(exponent, zero_allowed=zero_allowed))
    currency = EXPONENT_CURRENCY[exponent]
    assert bool(pattern.fullmatch(text)) == _accepted(text, currency, zero_allowed=zero_allowed), (text, currency)


@given(text=AMOUNT_TEXT)
def test_a_refund_amount_fits_the_pattern_when_some_currency_accepts_it(text: str) -> None:
    accepted_somewhere = any(_accepted(text, c, zero_allowed=False) for c in EXPONENT_CURRENCY.values())
    assert bool(re.fullmatch(any_amount_pattern(), text)) == accepted_somewhere
