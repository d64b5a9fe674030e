"""Cross-currency money is exact: rates are scaled integers, a quote rounds the destination down
to its currency's minor unit (JPY has none), a quote is its owner's and used once before it
expires, and the transfer's journal entry has four postings that balance per currency."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from ledgerline.core.auth import Principal
from ledgerline.core.money import AMOUNT_MINOR_MAX
from ledgerline.payment import domain as d
from ledgerline.payment import fx, messages
from ledgerline.payment.domain import Status
from ledgerline.payment.ports import WalletInfo
from ledgerline.payment.quoted_transfers import StartQuotedTransfer, start_quoted_transfer
from ledgerline.payment.rate_feed import feed_rates
from tests.unit.fakes import InMemoryWallets

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
ALICE_EUR, BOB_USD, BOB_EUR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def quote(amount_minor: int, source: str, destination: str, rate: str, owner: str = "alice") -> fx.Quote:
    return fx.make_quote(
        uuid.uuid4(),
        owner,
        (amount_minor, source),
        destination,
        fx.parse_rate(rate),
        now=NOW,
        valid_for=timedelta(seconds=30),
    )


@pytest.mark.parametrize(
    ("text", "scaled"),
    [("1", 100_000_000), ("1.0856", 108_560_000), ("0.00000001", 1), ("151.234", 15_123_400_000)],
)
def test_rates_are_scaled_integers(text: str, scaled: int) -> None:
    assert fx.parse_rate(text) == scaled
    assert fx.parse_rate(fx.format_rate(scaled)) == scaled


@pytest.mark.parametrize("text", ["0", "0.000000001", "1e3", "-1", "1.", "01.5", "1000000.00000001", "", " 1"])
def test_a_rate_outside_the_rules_is_refused(text: str) -> None:
    with pytest.raises(fx.RateNotValid):
        fx.parse_rate(text)


def test_the_largest_rate_is_accepted_and_one_step_above_it_is_not() -> None:
    assert fx.parse_rate(str(fx.RATE_UNITS_MAX)) == fx.RATE_SCALED_MAX
    with pytest.raises(fx.RateNotValid):
        fx.parse_rate(f"{fx.RATE_UNITS_MAX}.00000001")


@pytest.mark.parametrize(
    ("amount_minor", "source", "destination", "rate", "expected"),
    [
        (1000, "EUR", "USD", "1.08567", 1085),  # 10.8567 USD: the 0.67 cent stays with the platform.
        (1085, "USD", "JPY", "151.234", 1640),  # 1640.88 JPY: no minor unit, so whole yen.
        (1640, "JPY", "USD", "0.0066", 1082),  # 10.824 USD.
        (1082, "USD", "EUR", "0.92", 995),  # 9.9544 EUR.
        (1, "JPY", "KWD", "0.002", 2),  # KWD has three decimals: 0.002.
        (999, "EUR", "EUR", "1", 999),
    ],
)
def test_conversion_rounds_down_in_the_destination_minor_unit(
    amount_minor: int, source: str, destination: str, rate: str, expected: int
) -> None:
    assert fx.convert_down(amount_minor, source, destination, fx.parse_rate(rate)) == expected


def test_a_quote_holds_both_sides_and_expires() -> None:
    q = quote(1000, "EUR", "USD", "1.08567")
    assert (q.source_amount_minor, q.destination_amount_minor) == (1000, 1085)
    assert q.expires_at == NOW + timedelta(seconds=30)
    assert fx.check_usable(q, "alice", NOW + timedelta(seconds=29)) is q
    with pytest.raises(fx.QuoteExpired):
        fx.check_usable(q, "alice", q.expires_at)


def test_a_quote_is_the_callers_and_used_once() -> None:
    q = quote(1000, "EUR", "USD", "1.08567")
    with pytest.raises(fx.QuoteNotFound):
        fx.check_usable(q, "mallory", NOW)
    with pytest.raises(fx.QuoteNotFound):
        fx.check_usable(None, "alice", NOW)
    used = fx.Quote(**{**{f: getattr(q, f) for f in q.__slots__}, "payment_id": uuid.uuid4()})  # type: ignore[arg-type]
    with pytest.raises(fx.QuoteUsed):
        fx.check_usable(used, "alice", NOW)


def test_quotes_that_move_nothing_or_too_much_are_refused() -> None:
    with pytest.raises(fx.QuoteTooSmall):
        quote(1, "JPY", "EUR", "0.0061")  # 0.0061 cent rounds down to nothing.
    with pytest.raises(fx.QuoteTooLarge):
        quote(AMOUNT_MINOR_MAX, "EUR", "JPY", "1000")
    with pytest.raises(fx.SameCurrency):
        quote(100, "EUR", "EUR", "1")
    with pytest.raises(fx.RateUnavailable):
        fx.make_quote(uuid.uuid4(), "a", (100, "EUR"), "USD", None, now=NOW, valid_for=timedelta(seconds=1))


def test_the_entry_has_four_postings_that_balance_per_currency_and_the_destination_gets_the_quote() -> None:
    q = quote(1000, "EUR", "USD", "1.08567")
    p, commands = fx.start_transfer(uuid.uuid4(), q, ALICE_EUR, BOB_USD)
    assert commands == [d.Reserve(ALICE_EUR, 1000)]
    p, commands = d.on_funds_reserved(p)
    (message,) = messages.to_messages(p, commands)
    lines = [(str(line["account_kind"]), line["currency"], line["amount_minor"]) for line in message.data["postings"]]
    assert lines == [("wallet", "EUR", -1000), ("fx", "EUR", 1000), ("fx", "USD", -1085), ("wallet", "USD", 1085)]
    totals: dict[str, int] = defaultdict(int)
    for _, currency, amount in lines:
        totals[currency] += amount
    assert totals == {"EUR": 0, "USD": 0}
    p, commands = d.on_entry_posted(p)
    assert commands == [d.Settle(ALICE_EUR, ((BOB_USD, 1085),))]
    p, _ = d.on_funds_settled(p)
    assert p.status is Status.COMPLETED
    with pytest.raises(d.NotRefundable):
        d.check_refundable(p)


async def test_a_quoted_transfer_starts_only_between_wallets_of_the_quotes_currencies() -> None:
    alice = Principal("alice", frozenset(), token_id=None, session_id=None, expires_at=0)
    wallets = InMemoryWallets(
        [WalletInfo(ALICE_EUR, "EUR", "alice"), WalletInfo(BOB_USD, "USD", "bob"), WalletInfo(BOB_EUR, "EUR", "bob")]
    )
    q = quote(1000, "EUR", "USD", "1.08567")
    payment, _ = await start_quoted_transfer(StartQuotedTransfer(alice, ALICE_EUR, BOB_USD, q, "10.00"), wallets, NOW)
    assert (payment.amount_minor, payment.currency, payment.quote_id) == (1000, "EUR", q.id)
    assert (payment.credited_minor, payment.destination_currency) == (1085, "USD")
    with pytest.raises(d.CurrencyMismatch):
        await start_quoted_transfer(StartQuotedTransfer(alice, ALICE_EUR, BOB_EUR, q), wallets, NOW)
    with pytest.raises(fx.QuoteMismatch):
        await start_quoted_transfer(StartQuotedTransfer(alice, ALICE_EUR, BOB_USD, q, "10.01"), wallets, NOW)
    with pytest.raises(fx.QuoteMismatch):
        await start_quoted_transfer(StartQuotedTransfer(alice, ALICE_EUR, BOB_USD, q, None, "USD"), wallets, NOW)


def test_the_rate_feed_keeps_valid_rates_and_skips_the_rest() -> None:
    items = [
        {"base": "EUR", "quote": "USD", "rate": "1.08567"},
        {"base": "EUR", "quote": "EUR", "rate": "1"},
        {"base": "EUR", "quote": "ABC", "rate": "1"},
        {"base": "USD", "quote": "JPY", "rate": "0"},
        {"base": "USD", "quote": "JPY", "rate": 151.2},  # A float is never a rate.
        {"quote": "JPY", "rate": "1"},
        {"base": "JPY", "quote": "USD", "rate": "0.0066"},
    ]
    assert feed_rates(items, pairs_max=100) == [("EUR", "USD", 108_567_000), ("JPY", "USD", 660_000)]
    assert feed_rates(items, pairs_max=1) == [("EUR", "USD", 108_567_000)]
