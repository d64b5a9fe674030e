"""Money as integers in the currency's minor unit.

The API speaks decimal strings ("12.34"); everything inside speaks `amount_minor: int`.
No float ever touches an amount: parsing is done on the string's digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledgerline.core.currencies import EXPONENTS

# Largest amount accepted in one request, in minor units. Far above any real payment and far
# below PostgreSQL's bigint, so sums of many amounts cannot overflow a balance column.
AMOUNT_MINOR_MAX = 10**15
_AMOUNT_PATTERN = re.compile(r"(?P<sign>-?)(?P<units>0|[1-9][0-9]{0,17})(?:\.(?P<fraction>[0-9]+))?")


class MoneyError(ValueError):
    """An amount or currency that breaks the money rules; `code` names the rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def currency_exponent(currency: str) -> int:
    """The ISO 4217 minor-unit exponent of `currency`, or MoneyError for an unknown code."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError("unknown_currency", f"unknown currency code {currency!r}") from None


def parse_amount(text: str, currency: str, *, allow_negative: bool = False) -> int:
    """Parse a decimal string such as "12.34" into minor units of `currency`.

    Strict: no exponent notation, no leading '+', no thousands separators, no leading zeros,
    no more fraction digits than the currency has. Trailing zeros within the exponent are fine
    ("12.30" for EUR).
    """
    exponent = currency_exponent(currency)
    match = _AMOUNT_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise MoneyError("malformed_amount", f"amount {text!r} is not a decimal string like '12.34'")
    if match["sign"] and not allow_negative:
        raise MoneyError("non_positive_amount", f"amount {text!r} must be greater than zero")
    fraction = match["fraction"] or ""
    if len(fraction) > exponent:
        raise MoneyError(
            "too_many_decimals",
            f"amount {text!r} has {len(fraction)} decimals; {currency} allows {exponent}",
        )
    minor: int = int(match["units"]) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    if minor > AMOUNT_MINOR_MAX:
        raise MoneyError("amount_too_large", f"amount {text!r} exceeds the maximum")
    return -minor if match["sign"] else minor


def parse_positive_amount(text: str, currency: str) -> int:
    """Parse an amount that moves money: it must be strictly greater than zero."""
    minor = parse_amount(text, currency)
    if minor <= 0:
        raise MoneyError("non_positive_amount", f"amount {text!r} must be greater than zero")
    return minor


def format_amount(amount_minor: int, currency: str) -> str:
    """Format minor units as a decimal string with exactly the currency's exponent digits."""
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
        raise TypeError(f"amount_minor must be int, not {type(amount_minor).__name__}")
    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    units, fraction = divmod(abs(amount_minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{units}"
    return f"{sign}{units}.{fraction:0{exponent}d}"


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        currency_exponent(self.currency)
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("amount_minor must be an int")

    def __str__(self) -> str:
        return f"{format_amount(self.amount_minor, self.currency)} {self.currency}"
