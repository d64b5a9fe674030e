"""A small async client for the platform's HTTP APIs (used by the demo and the tests)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "COMPENSATED"})
SETTLE_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 30.0


class PaymentTimeout(AssertionError):
    """A payment did not reach a terminal state in time."""


@dataclass
class LedgerlineClient:
    wallet_url: str
    ledger_url: str
    payment_url: str

    def __post_init__(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self.wallet = httpx.AsyncClient(base_url=self.wallet_url, timeout=REQUEST_TIMEOUT_S, limits=limits)
        self.ledger = httpx.AsyncClient(base_url=self.ledger_url, timeout=REQUEST_TIMEOUT_S, limits=limits)
        self.payment = httpx.AsyncClient(base_url=self.payment_url, timeout=REQUEST_TIMEOUT_S, limits=limits)

    async def aclose(self) -> None:
        for client in (self.wallet, self.ledger, self.payment):
            await client.aclose()

    async def open_wallet(self, owner_id: str, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
        response = await self.wallet.post("/v1/wallets", json={"owner_id": owner_id, "currency": currency, **extra})
        response.raise_for_status()
        return dict(response.json())

    async def get_wallet(self, wallet_id: str) -> dict[str, Any]:
        response = await self.wallet.get(f"/v1/wallets/{wallet_id}")
        response.raise_for_status()
        return dict(response.json())

    async def post_payment(self, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return await self.payment.post(path, json=body, headers=headers)

    async def deposit(
        self, wallet_id: str, amount: str, currency: str = "EUR", card_token: str = "tok_visa"
    ) -> dict[str, Any]:
        response = await self.post_payment(
            "/v1/deposits", {"wallet_id": wallet_id, "amount": amount, "currency": currency, "card_token": card_token}
        )
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def transfer(self, source: str, destination: str, amount: str, currency: str = "EUR") -> dict[str, Any]:
        response = await self.post_payment(
            "/v1/transfers",
            {"source_wallet_id": source, "destination_wallet_id": destination, "amount": amount, "currency": currency},
        )
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def withdraw(
        self, wallet_id: str, amount: str, currency: str = "EUR", bank_account: str = "DE89370400440532013000"
    ) -> dict[str, Any]:
        response = await self.post_payment(
            "/v1/withdrawals",
            {"wallet_id": wallet_id, "amount": amount, "currency": currency, "bank_account": bank_account},
        )
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def refund(self, payment_id: str, amount: str) -> dict[str, Any]:
        response = await self.post_payment(f"/v1/payments/{payment_id}/refunds", {"amount": amount})
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def get_payment(self, payment_id: str) -> dict[str, Any]:
        response = await self.payment.get(f"/v1/payments/{payment_id}")
        response.raise_for_status()
        return dict(response.json())

    async def payments(self, **params: Any) -> dict[str, Any]:
        """One page of payment history (filters and `cursor` as query parameters)."""
        response = await self.payment.get("/v1/payments", params=params)
        response.raise_for_status()
        return dict(response.json())

    async def settle(self, payment_id: str, timeout_s: float = SETTLE_TIMEOUT_S) -> dict[str, Any]:
        """Poll until the payment is terminal; returns its final view."""
        deadline = time.monotonic() + timeout_s
        while True:
            payment = await self.get_payment(payment_id)
            if payment["status"] in TERMINAL_STATUSES:
                return payment
            if time.monotonic() > deadline:
                raise PaymentTimeout(f"payment {payment_id} still {payment['status']} after {timeout_s}s")
            await asyncio.sleep(POLL_INTERVAL_S)

    async def account(self, account_id: str) -> dict[str, Any]:
        response = await self.ledger.get(f"/v1/accounts/{account_id}")
        response.raise_for_status()
        return dict(response.json())

    async def entries(self, account_id: str, **params: Any) -> dict[str, Any]:
        response = await self.ledger.get(f"/v1/accounts/{account_id}/entries", params=params)
        response.raise_for_status()
        return dict(response.json())

    async def reconciliation(self, verify_postings: bool = True) -> dict[str, Any]:
        response = await self.ledger.get("/v1/reconciliation", params={"verify_postings": str(verify_postings).lower()})
        response.raise_for_status()
        return dict(response.json())
