"""Money parsing and formatting are exact inverses on integers and reject every malformed amount."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerline.core.currencies import EXPONENTS
from ledgerline.core.money import (
    AMOUNT_MINOR_MAX,
    Money,
    MoneyError,
    format_amount,
    parse_amount,
    parse_positive_amount,
)

currencies = st.sampled_from(sorted(EXPONENTS))
amounts = st.integers(min_value=-AMOUNT_MINOR_MAX, max_value=AMOUNT_MINOR_MAX)


@given(amounts, currencies)
def test_format_then_parse_round_trips(amount_minor: int, currency: str) -> None:
    assert parse_amount(format_amount(amount_minor, currency), currency, allow_negative=True) == amount_minor


@given(amounts, currencies)
def test_formatted_amount_has_exactly_the_currency_exponent_digits(amount_minor: int, currency: str) -> None:
    text = format_amount(amount_minor, currency)
    exponent = EXPONENTS[currency]
    if exponent == 0:
        assert "." not in text
    else:
        assert len(text.split(".")[1]) == exponent


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=4), currencies)
def test_more_decimals_than_the_currency_allows_is_rejected(units: int, extra: int, currency: str) -> None:
    fraction = "1" * (EXPONENTS[currency] + extra)
    with pytest.raises(MoneyError) as error:
        parse_amount(f"{units}.{fraction}", currency)
    assert error.value.code == "too_many_decimals"


@given(st.integers(min_value=1, max_value=AMOUNT_MINOR_MAX), currencies)
def test_trailing_zeros_within_the_exponent_are_accepted(amount_minor: int, currency: str) -> None:
    exponent = EXPONENTS[currency]
    units, fraction = divmod(amount_minor, 10**exponent)
    text = f"{units}.{fraction:0{exponent}d}" if exponent else str(units)
    assert parse_positive_amount(text, currency) == amount_minor


@given(st.text(max_size=20))
def test_arbitrary_text_is_either_a_valid_amount_or_a_money_error(text: str) -> None:
    try:
        value = parse_amount(text, "EUR", allow_negative=True)
    except MoneyError:
        return
    assert isinstance(value, int)
    assert format_amount(value, "EUR").lstrip("-").replace(".", "").isdigit()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1e3", "malformed_amount"),
        ("+1.00", "malformed_amount"),
        ("01.00", "malformed_amount"),
        ("1,000.00", "malformed_amount"),
        (" 1.00", "malformed_amount"),
        ("1.", "malformed_amount"),
        (".5", "malformed_amount"),
        ("NaN", "malformed_amount"),
        ("-1.00", "non_positive_amount"),
        ("1.001", "too_many_decimals"),
        ("10000000000000.01", "amount_too_large"),
    ],
)
def test_malformed_amounts_are_rejected_with_their_rule(text: str, code: str) -> None:
    with pytest.raises(MoneyError) as error:
        parse_amount(text, "EUR")
    assert error.value.code == code


def test_zero_is_not_a_payment_amount() -> None:
    with pytest.raises(MoneyError) as error:
        parse_positive_amount("0.00", "EUR")
    assert error.value.code == "non_positive_amount"


@pytest.mark.parametrize(
    ("currency", "text", "minor"), [("JPY", "1500", 1500), ("KWD", "1.234", 1234), ("EUR", "0.01", 1)]
)
def test_exponents_follow_iso_4217(currency: str, text: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


def test_unknown_currency_and_float_amounts_are_refused() -> None:
    with pytest.raises(MoneyError):
        parse_amount("1.00", "XXX")
    with pytest.raises(TypeError):
        format_amount(1.5, "EUR")  # type: ignore[arg-type]  # A float on purpose: it must be refused.
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]  # A float on purpose: it must be refused.
    assert str(Money(1234, "EUR")) == "12.34 EUR"
