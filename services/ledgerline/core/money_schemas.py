"""JSON Schema for money on the API, exactly as strict as `core/money.py` parses it.

An amount is a decimal string with no more fraction digits than its currency allows, greater than
zero (or zero where allowed), at most `AMOUNT_MINOR_MAX` minor units. How many decimals depend on
the currency in the same body, so a body with both gets one `anyOf` branch per exponent: a client
or a fuzzer that reads the schema builds only requests the service accepts. Validation itself stays
in `money.parse_amount`, which names the broken rule (`too_many_decimals`, ...) in its problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from ledgerline.core.currencies import EXPONENTS
from ledgerline.core.money import AMOUNT_MINOR_MAX

CURRENCY_PATTERN = "^[A-Z]{3}$"
# The longest amount string parse_amount can accept ("1000000000000000"); the field's hard cap.
AMOUNT_LENGTH_MAX = 32
_EXPONENTS_USED = tuple(sorted(set(EXPONENTS.values())))


def currencies_with(exponent: int) -> list[str]:
    return sorted(code for code, e in EXPONENTS.items() if e == exponent)


def amount_pattern(exponent: int, *, zero_allowed: bool = False) -> str:
    """A regular expression for the amounts `parse_amount` accepts in a currency of `exponent`."""
    units_digits_max = len(str(AMOUNT_MINOR_MAX // 10**exponent)) - 1
    fraction = f"(\\.[0-9]{{1,{exponent}}})?" if exponent else ""
    zero_fraction = f"(\\.0{{1,{exponent}}})?" if exponent else ""
    choices = [
        f"[1-9][0-9]{{0,{units_digits_max - 1}}}{fraction}",
        f"1{'0' * units_digits_max}{zero_fraction}",  # exactly the maximum
    ]
    if exponent:
        # Below one unit: some fraction digit must be non-zero.
        small = "|".join(f"{'0' * zeros}[1-9][0-9]{{0,{exponent - 1 - zeros}}}" for zeros in range(exponent))
        choices.append(f"0\\.({small})")
    if zero_allowed:
        choices.append(f"0{zero_fraction}")
    return "^(" + "|".join(choices) + ")$"


def any_amount_pattern(*, zero_allowed: bool = False) -> str:
    """Amounts some currency accepts: for a body that does not name the currency (a refund)."""
    return "^(" + "|".join(amount_pattern(e, zero_allowed=zero_allowed)[1:-1] for e in _EXPONENTS_USED) + ")$"


Currency = Annotated[
    str,
    Field(
        pattern=CURRENCY_PATTERN,
        examples=["EUR"],
        description="ISO 4217 code",
        json_schema_extra={"enum": sorted(EXPONENTS)},
    ),
]


def amount_field(default: Any = ..., *, zero_allowed: bool = False, description: str | None = None) -> Any:
    return Field(
        default,
        min_length=1,
        max_length=AMOUNT_LENGTH_MAX,
        examples=["12.34"],
        description=description or "Decimal string, with no more decimals than the currency has",
        json_schema_extra={"pattern": any_amount_pattern(zero_allowed=zero_allowed)},
    )


def amounts_in_currency(
    *amount_fields: str, currency_field: str = "currency", zero_allowed: bool = False
) -> Callable[[dict[str, Any]], None]:
    """A model's `json_schema_extra`: each amount field checked against the body's currency."""

    def extend(schema: dict[str, Any]) -> None:
        schema["anyOf"] = [
            {
                "properties": {
                    currency_field: {"enum": currencies_with(exponent)},
                    **{
                        name: {"pattern": amount_pattern(exponent, zero_allowed=zero_allowed)} for name in amount_fields
                    },
                }
            }
            for exponent in _EXPONENTS_USED
        ]

    return extend
