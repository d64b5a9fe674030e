"""What the benchmark asks of the platform: funded wallets, then streams of payments."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ledgerline.bench.load import ApiClient, Request

CURRENCY = "EUR"
SETUP_CONCURRENCY = 16
FUNDING = "1000.00"
HOT_FUNDING = "100000.00"
AMOUNT = "1.00"


@dataclass
class Wallets:
    ids: list[str]
    hot: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def pair(self) -> tuple[str, str]:
        source, destination = self.rng.sample(self.ids, 2)
        return source, destination


async def open_wallets(client: ApiClient, count: int) -> list[str]:
    semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(index: int) -> str:
        async with semaphore:
            body = {"currency": CURRENCY}
            return str((await client.post_json(client.wallet_url + "/v1/wallets", body))["id"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


SEED_PAGE = 1000
SEED_CONCURRENCY = 4


async def seed_wallets(
    client: ApiClient, count: int, start: int, on_page: Callable[[int], None] = lambda _: None
) -> list[str]:
    """Open `count` empty wallets through the bulk API, a page at a time; `on_page` hears how
    many are open so far."""
    pages = [range(first, min(first + SEED_PAGE, start + count)) for first in range(start, start + count, SEED_PAGE)]
    semaphore = asyncio.Semaphore(SEED_CONCURRENCY)
    opened_so_far = 0

    async def page(numbers: range) -> list[str]:
        nonlocal opened_so_far
        body = {"wallets": [{"currency": CURRENCY} for _ in numbers]}
        async with semaphore:
            opened = await client.post_json(client.wallet_url + "/v1/wallets/batch", body)
        opened_so_far += len(numbers)
        on_page(opened_so_far)
        return [str(item["id"]) for item in opened["items"]]

    return [wallet_id for ids in await asyncio.gather(*(page(p) for p in pages)) for wallet_id in ids]


def spread_transfers(wallets: Wallets, population: Sequence[str], count: int) -> list[Request]:
    """From funded wallets to any other wallet of `population`: every transfer may touch a new wallet."""
    requests: list[Request] = []
    while len(requests) < count:
        source, destination = wallets.rng.choice(wallets.ids), wallets.rng.choice(population)
        if source != destination:
            requests.append(transfer(source, destination))
    return requests


def transfer(source: str, destination: str, amount: str = AMOUNT) -> Request:
    body = {"source_wallet_id": source, "destination_wallet_id": destination, "amount": amount, "currency": CURRENCY}
    return Request("/v1/transfers", body)


def deposit(wallet_id: str, amount: str = AMOUNT) -> Request:
    body = {"wallet_id": wallet_id, "amount": amount, "currency": CURRENCY, "card_token": "tok_visa"}
    return Request("/v1/deposits", body)


def withdrawal(wallet_id: str, amount: str = AMOUNT) -> Request:
    body = {"wallet_id": wallet_id, "amount": amount, "currency": CURRENCY, "bank_account": "DE89370400440532013000"}
    return Request("/v1/withdrawals", body)


def refund(payment_id: str, amount: str) -> Request:
    return Request(f"/v1/payments/{payment_id}/refunds", {"amount": amount})


def transfers(wallets: Wallets, count: int) -> list[Request]:
    return [transfer(*wallets.pair()) for _ in range(count)]


def deposits(wallets: Wallets, count: int) -> list[Request]:
    return [deposit(wallets.rng.choice(wallets.ids)) for _ in range(count)]


def hot_wallet(wallets: Wallets, count: int) -> list[Request]:
    return [transfer(wallets.hot, wallets.rng.choice(wallets.ids)) for _ in range(count)]


def mix(wallets: Wallets, count: int, refundable: list[str]) -> list[Request]:
    """70% transfers, 15% refunds of half of an earlier completed transfer, 15% withdrawals."""
    requests: list[Request] = []
    to_refund = iter(refundable)
    for _ in range(count):
        roll = wallets.rng.random()
        if roll < 0.15 and (original := next(to_refund, None)) is not None:
            requests.append(refund(original, "0.50"))
        elif roll < 0.30:
            requests.append(withdrawal(wallets.rng.choice(wallets.ids), "0.50"))
        else:
            requests.append(transfer(*wallets.pair()))
    wallets.rng.shuffle(requests)
    return requests
