"""The client side of the chaos test: a steady mix of transfers (some out of one wallet at the
same moment), deposits, withdrawals and refunds, each request retried with the same idempotency
key after a timeout, a lost connection or a 409/503, as a careful client would.

Every answer is recorded per key, so the findings can say whether a retry ever got a different
payment than the first answer.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from ledgerline.client import LedgerlineClient
from ledgerline.core.money import format_amount

CURRENCY = "EUR"
WALLETS = 8
FUNDING_MINOR = 50_000
WORKERS = 6
# A client that waits this long for an answer gives up and retries with the same key.
CLIENT_TIMEOUT_S = 2.0
RETRY_PAUSE_S = (0.2, 1.0)
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 409 is retried only when the first request with the key is still being answered; any other
# 409 (a refund of a transfer that did not complete) is the final answer.
IN_FLIGHT_CODE = "idempotency_key_in_flight"
SAME_SOURCE_BURST = 3  # Concurrent transfers out of one wallet.


@dataclass
class Attempted:
    """One idempotency key: what was asked and every answer it got."""

    key: str
    kind: str
    attempts: int = 0
    payment_ids: list[str] = field(default_factory=list)  # From every 2xx answer, in order.
    refused: tuple[int, str] | None = None  # A final 4xx: status and problem code.
    gave_up: bool = False


@dataclass
class Recorded:
    keys: list[Attempted] = field(default_factory=list)

    @property
    def accepted(self) -> list[str]:
        return sorted({a.payment_ids[0] for a in self.keys if a.payment_ids})

    def transfers(self) -> list[str]:
        return [a.payment_ids[0] for a in self.keys if a.kind == "transfer" and a.payment_ids]


async def send(
    client: LedgerlineClient, path: str, body: dict[str, Any], kind: str, recorded: Recorded, deadline: float
) -> Attempted:
    """POST with one key until a final answer or `deadline` (monotonic); every answer recorded."""
    attempted = Attempted(str(uuid.uuid4()), kind)
    recorded.keys.append(attempted)
    while True:
        attempted.attempts += 1
        try:
            response = await asyncio.wait_for(client.post_payment(path, body, attempted.key), CLIENT_TIMEOUT_S)
        except (TimeoutError, httpx.HTTPError):
            response = None
        if response is not None and response.is_success:
            attempted.payment_ids.append(str(response.json()["id"]))
            return attempted
        if response is not None and not _retried(response):
            attempted.refused = (response.status_code, _code(response))
            return attempted
        if time.monotonic() > deadline:
            attempted.gave_up = True
            return attempted
        await asyncio.sleep(random.uniform(*RETRY_PAUSE_S))


def _retried(response: httpx.Response) -> bool:
    if response.status_code == 409:
        return _code(response) == IN_FLIGHT_CODE
    return response.status_code in RETRIED_STATUSES


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except ValueError:
        return ""


async def open_funded_wallets(client: LedgerlineClient, owner: str) -> list[str]:
    """Wallets opened and funded before any fault, so the load starts with money to move."""
    ids = [str((await client.open_wallet(owner, CURRENCY))["id"]) for _ in range(WALLETS)]
    for wallet_id in ids:
        deposit = await client.deposit(wallet_id, format_amount(FUNDING_MINOR, CURRENCY), CURRENCY)
        if deposit["status"] != "COMPLETED":
            raise RuntimeError(f"funding deposit {deposit['id']} ended {deposit['status']}")
    return ids


@dataclass
class Mix:
    client: LedgerlineClient
    wallets: list[str]
    rng: random.Random
    recorded: Recorded
    retry_deadline: float  # Monotonic time after which a request is no longer retried.

    def amount(self, low: int, high: int) -> str:
        return format_amount(self.rng.randint(low, high), CURRENCY)

    async def transfer(self, source: str | None = None) -> None:
        source = source or self.rng.choice(self.wallets)
        destination = self.rng.choice([w for w in self.wallets if w != source])
        body = {"source_wallet_id": source, "destination_wallet_id": destination, "currency": CURRENCY}
        await send(self.client, "/v1/transfers", body | {"amount": self.amount(100, 3_000)}, "transfer", *self._tail)

    async def burst(self) -> None:
        source = self.rng.choice(self.wallets)
        await asyncio.gather(*(self.transfer(source) for _ in range(SAME_SOURCE_BURST)))

    async def deposit(self) -> None:
        body = {"wallet_id": self.rng.choice(self.wallets), "amount": self.amount(100, 5_000), "currency": CURRENCY}
        await send(self.client, "/v1/deposits", body | {"card_token": "tok_visa"}, "deposit", *self._tail)

    async def withdrawal(self) -> None:
        body = {"wallet_id": self.rng.choice(self.wallets), "amount": self.amount(100, 2_000), "currency": CURRENCY}
        body["bank_account"] = "DE89370400440532013000"
        await send(self.client, "/v1/withdrawals", body, "withdrawal", *self._tail)

    async def refund(self) -> None:
        # The older half of the accepted transfers: most have completed, and only a completed
        # transfer can be refunded (a refund of one still in flight is refused, which is fine).
        transfers = self.recorded.transfers()
        if len(transfers) < 2:
            return await self.transfer()
        path = f"/v1/payments/{self.rng.choice(transfers[: len(transfers) // 2])}/refunds"
        await send(self.client, path, {"amount": self.amount(1, 100)}, "refund", *self._tail)

    @property
    def _tail(self) -> tuple[Recorded, float]:
        return self.recorded, self.retry_deadline


OPERATIONS = ("transfer", "burst", "deposit", "withdrawal", "refund")
WEIGHTS = (45, 10, 20, 12, 13)


async def drive(mix: Mix, load_s: float) -> None:
    """`WORKERS` clients, each choosing its next request by `WEIGHTS` until `load_s` is over."""
    stop_at = time.monotonic() + load_s

    async def worker() -> None:
        while time.monotonic() < stop_at:
            await getattr(mix, mix.rng.choices(OPERATIONS, WEIGHTS)[0])()

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
