"""Exchange rates and quotes as exact integers. No I/O.

A rate is a decimal with at most `RATE_DECIMALS` fraction digits, kept as an integer scaled by
`RATE_SCALE` ("1.0856" is 108_560_000). Converting an amount multiplies integers and divides
once, rounding DOWN in the destination currency's minor unit: the holder never receives a
fraction of a minor unit the platform does not have, and the same quote always gives the same
amount. A quote is the caller's, used once, and only before it expires.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ledgerline.core.money import AMOUNT_MINOR_MAX, currency_exponent
from ledgerline.payment.domain import Command, Payment, PaymentRefused, PaymentType, outstanding, start

RATE_DECIMALS = 8
RATE_SCALE: int = 10**RATE_DECIMALS
# One unit of any currency buys at most a million of another: far above any real rate, and it
# keeps `amount * rate` within what the arithmetic below and PostgreSQL's bigint are checked for.
RATE_UNITS_MAX = 1_000_000
RATE_SCALED_MAX = RATE_UNITS_MAX * RATE_SCALE


def _rate_pattern() -> str:
    """The rates `parse_rate` accepts, as a regular expression: positive, at most the maximum."""
    units_digits = len(str(RATE_UNITS_MAX)) - 1
    fraction = f"(\\.[0-9]{{1,{RATE_DECIMALS}}})?"
    # Below one: some fraction digit must be non-zero.
    small = "|".join(f"{'0' * zeros}[1-9][0-9]{{0,{RATE_DECIMALS - 1 - zeros}}}" for zeros in range(RATE_DECIMALS))
    choices = [f"[1-9][0-9]{{0,{units_digits - 1}}}{fraction}", f"{RATE_UNITS_MAX}(\\.0{{1,{RATE_DECIMALS}}})?"]
    return "^(" + "|".join([*choices, f"0\\.({small})"]) + ")$"


RATE_PATTERN = _rate_pattern()
_RATE = re.compile(RATE_PATTERN)


class RateNotValid(ValueError):
    """A rate that is not a positive decimal within the limits."""


class SameCurrency(PaymentRefused):
    code, title = "same_currency", "A quote exchanges two different currencies"


class RateUnavailable(PaymentRefused):
    code, title = "rate_unavailable", "No rate for this currency pair"


class QuoteTooSmall(PaymentRefused):
    code, title = "quote_too_small", "The amount buys nothing in the destination currency"


class QuoteTooLarge(PaymentRefused):
    code, title = "quote_too_large", "The amount buys more than one payment may carry"


class QuoteNotFound(PaymentRefused):
    code, title = "quote_not_found", "Quote not found"


class QuoteExpired(PaymentRefused):
    code, title = "quote_expired", "Quote has expired"


class QuoteUsed(PaymentRefused):
    code, title = "quote_used", "Quote was already used"


class QuoteMismatch(PaymentRefused):
    code, title = "quote_mismatch", "Amount or currency differs from the quote"


def parse_rate(text: str) -> int:
    """ "1.0856" as 108_560_000: digits only, no float, greater than zero, at most the maximum."""
    if not isinstance(text, str) or _RATE.fullmatch(text) is None:
        raise RateNotValid(f"rate {text!r} is not a decimal with at most {RATE_DECIMALS} decimals")
    units, _, fraction = text.partition(".")
    scaled = int(units) * RATE_SCALE + int(fraction.ljust(RATE_DECIMALS, "0"))
    if not 0 < scaled <= RATE_SCALED_MAX:
        raise RateNotValid(f"rate {text!r} must be greater than 0 and at most {RATE_UNITS_MAX}")
    return scaled


def format_rate(rate_scaled: int) -> str:
    units, fraction = divmod(rate_scaled, RATE_SCALE)
    return f"{units}.{fraction:0{RATE_DECIMALS}d}"


def convert_down(amount_minor: int, source_currency: str, destination_currency: str, rate_scaled: int) -> int:
    """`amount_minor` of the source currency in minor units of the destination, rounded down.

    amount / 10^e_src units * rate / 10^8 = amount * rate * 10^e_dst / (10^e_src * 10^8)
    destination minor units, with one floor division at the end.
    """
    if amount_minor <= 0 or rate_scaled <= 0:
        raise ValueError("amount and rate must be positive")
    numerator: int = amount_minor * rate_scaled * 10 ** currency_exponent(destination_currency)
    denominator: int = 10 ** currency_exponent(source_currency) * RATE_SCALE
    return numerator // denominator


@dataclass(frozen=True, slots=True)
class Quote:
    id: uuid.UUID
    owner_id: str
    source_currency: str
    destination_currency: str
    rate_scaled: int
    source_amount_minor: int
    destination_amount_minor: int
    created_at: datetime
    expires_at: datetime
    payment_id: uuid.UUID | None = None  # The transfer that used it.


def make_quote(
    quote_id: uuid.UUID,
    owner_id: str,
    source: tuple[int, str],
    destination_currency: str,
    rate_scaled: int | None,
    *,
    now: datetime,
    valid_for: timedelta,
) -> Quote:
    """A quote for `source` (amount in minor units, currency) at `rate_scaled`, or a refusal."""
    amount_minor, source_currency = source
    if source_currency == destination_currency:
        raise SameCurrency(f"{source_currency} to {destination_currency} needs no quote")
    if rate_scaled is None:
        raise RateUnavailable(f"no rate from {source_currency} to {destination_currency}")
    destination_minor = convert_down(amount_minor, source_currency, destination_currency, rate_scaled)
    if destination_minor <= 0:
        raise QuoteTooSmall(f"the amount is less than one minor unit of {destination_currency}")
    if destination_minor > AMOUNT_MINOR_MAX:
        raise QuoteTooLarge(f"the amount is more than a payment may carry in {destination_currency}")
    return Quote(
        quote_id,
        owner_id,
        source_currency,
        destination_currency,
        rate_scaled,
        amount_minor,
        destination_minor,
        now,
        now + valid_for,
    )


def check_usable(quote: Quote | None, owner_id: str, now: datetime) -> Quote:
    """The caller's quote if it may start a transfer now: another's answers as a missing one."""
    if quote is None or quote.owner_id != owner_id:
        raise QuoteNotFound("no such quote")
    if quote.payment_id is not None:
        raise QuoteUsed(f"quote {quote.id} was used by payment {quote.payment_id}; ask for a new one")
    if now >= quote.expires_at:
        raise QuoteExpired(f"quote {quote.id} expired at {quote.expires_at.isoformat()}; ask for a new one")
    return quote


def start_transfer(
    payment_id: uuid.UUID, quote: Quote, source: uuid.UUID, destination: uuid.UUID
) -> tuple[Payment, list[Command]]:
    """A transfer at the quote's rate: the source pays the quote's source side, the destination
    receives its destination side."""
    payment, _ = start(
        payment_id,
        PaymentType.TRANSFER,
        quote.source_amount_minor,
        quote.source_currency,
        source=source,
        destination=destination,
    )
    exchanged = replace(
        payment,
        destination_amount_minor=quote.destination_amount_minor,
        destination_currency=quote.destination_currency,
        quote_id=quote.id,
    )
    return exchanged, outstanding(exchanged)
