"""Starting a cross-currency transfer from a quote: the service layer of `POST /v1/transfers`
with a `quote_id`.

The quote fixes both amounts. It is checked when the transfer is accepted (the caller's, not
used, not expired) and claimed in the transaction that writes the payment, under a row lock, so
two transfers can never both use it; once accepted, the transfer runs to its end at the
quote's rate however long its saga takes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core.auth import Principal
from ledgerline.core.money import parse_positive_amount
from ledgerline.payment import domain as d
from ledgerline.payment import fx, fx_store
from ledgerline.payment.domain import Payment
from ledgerline.payment.intake import Check
from ledgerline.payment.ports import WalletLookup
from ledgerline.payment.service import Start, existing_wallet, own_wallet

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StartQuotedTransfer:
    principal: Principal
    source_wallet_id: uuid.UUID
    destination_wallet_id: uuid.UUID
    quote: fx.Quote | None
    # Optional on the request; when given they must be the quote's source side.
    amount: str | None = None
    currency: str | None = None


def check_matches(quote: fx.Quote, amount: str | None, currency: str | None) -> None:
    if currency is not None and currency != quote.source_currency:
        raise fx.QuoteMismatch(f"the quote pays in {quote.source_currency}, not {currency}")
    if amount is not None and parse_positive_amount(amount, quote.source_currency) != quote.source_amount_minor:
        raise fx.QuoteMismatch(f"the quote is for another amount of {quote.source_currency}")


async def start_quoted_transfer(command: StartQuotedTransfer, wallets: WalletLookup, now: datetime) -> Start:
    """From the caller's wallet in the quote's source currency to anyone's wallet in its
    destination currency."""
    quote = fx.check_usable(command.quote, command.principal.subject, now)
    check_matches(quote, command.amount, command.currency)
    d.check_distinct(command.source_wallet_id, command.destination_wallet_id)
    source, destination = command.source_wallet_id, command.destination_wallet_id
    await own_wallet(wallets, command.principal, source, quote.source_currency, role="source")
    await existing_wallet(wallets, destination, quote.destination_currency, role="destination")
    return fx.start_transfer(uuid.uuid4(), quote, source, destination)


def claim_quote(quote_id: uuid.UUID, owner_id: str, clock: Clock = utc_now) -> Check:
    """Use the quote once, in the transaction that writes its transfer."""

    async def check(connection: AsyncConnection, transfer: Payment) -> None:
        # The quote's row lock serialises two transfers racing for it.
        quote = await fx_store.get_quote(connection, quote_id, for_update=True)
        fx.check_usable(quote, owner_id, clock())
        await fx_store.mark_used(connection, quote_id, transfer.id)

    return check
