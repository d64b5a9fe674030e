"""The bank's rate feed into the rates table: at startup and every `fx_rate_feed_interval_s`.

A pair the feed names takes the feed's rate; a pair it does not name keeps the operator's. A
rate the feed gets wrong (not a positive decimal, an unknown currency, a currency to itself) is
skipped and logged, never stored; a feed that cannot be reached is tried again next time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ledgerline.core.db import UnitOfWork
from ledgerline.core.money import MoneyError, currency_exponent
from ledgerline.core.transient import is_transient
from ledgerline.payment import fx, fx_store
from ledgerline.payment.settings import PaymentSettings

FEED_PATH = "/v1/fx/rates"
_log = logging.getLogger(__name__)


def feed_rates(items: Sequence[Mapping[str, Any]], pairs_max: int) -> list[tuple[str, str, int]]:
    """The feed's valid rates as (base, quote, rate_scaled), at most `pairs_max` of them."""
    valid = []
    for item in items[:pairs_max]:
        base, quote, rate = item.get("base"), item.get("quote"), item.get("rate")
        try:
            if not isinstance(base, str) or not isinstance(quote, str) or base == quote:
                raise ValueError(f"not a pair of two currencies: {base!r}, {quote!r}")
            if not isinstance(rate, str):  # A float is never a rate.
                raise ValueError(f"rate {rate!r} is not a decimal string")
            currency_exponent(base), currency_exponent(quote)
            valid.append((base, quote, fx.parse_rate(rate)))
        except (ValueError, MoneyError) as error:
            _log.warning("rate feed: skipped %r: %s", item, error)
    return valid


async def load_once(http: httpx.AsyncClient, make_uow: Callable[[], UnitOfWork], pairs_max: int) -> int:
    """Store the feed's rates; returns how many were stored."""
    response = await http.get(FEED_PATH)
    response.raise_for_status()
    rates = feed_rates(response.json().get("items", []), pairs_max)
    stored = 0
    async with make_uow() as uow:
        for base, quote, rate_scaled in rates:
            stored += await fx_store.put_rate_within(uow.connection, base, quote, rate_scaled, pairs_max) is not None
        await uow.commit()
    return stored


async def run(http: httpx.AsyncClient, make_uow: Callable[[], UnitOfWork], settings: PaymentSettings) -> None:
    while True:
        try:
            stored = await load_once(http, make_uow, settings.fx_rates_max)
            _log.info("rate feed: %d rates stored", stored)
        except Exception as exc:
            if not isinstance(exc, httpx.HTTPError | ValueError) and not is_transient(exc):
                raise
            _log.warning("rate feed: not loaded: %s", exc)
        await asyncio.sleep(settings.fx_rate_feed_interval_s)
