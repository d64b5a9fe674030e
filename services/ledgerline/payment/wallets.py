"""What the payment service asks the wallet service before accepting a payment (over HTTP)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from ledgerline.core.problems import Problem


@dataclass(frozen=True, slots=True)
class WalletInfo:
    id: uuid.UUID
    currency: str
    status: str


class WalletDirectory:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get(self, wallet_id: uuid.UUID) -> WalletInfo | None:
        try:
            response = await self._client.get(f"/v1/wallets/{wallet_id}")
        except httpx.HTTPError as exc:
            raise Problem(503, "wallet_service_unavailable", "Wallet service unavailable", str(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Problem(
                502, "wallet_service_error", "Wallet service error", f"wallet service answered {response.status_code}"
            )
        body = response.json()
        return WalletInfo(uuid.UUID(body["id"]), body["currency"], body["status"])

    async def require(self, wallet_id: uuid.UUID, currency: str, *, role: str, spending: bool) -> WalletInfo:
        """The wallet, checked for use in a payment of `currency`; a 4xx problem otherwise."""
        wallet = await self.get(wallet_id)
        if wallet is None:
            raise Problem(
                422,
                "unknown_wallet",
                "Unknown wallet",
                f"{role} wallet {wallet_id} does not exist",
                wallet_id=str(wallet_id),
            )
        if wallet.currency != currency:
            raise Problem(
                422,
                "currency_mismatch",
                "Currency does not match the wallet",
                f"{role} wallet {wallet_id} holds {wallet.currency}, not {currency}",
            )
        if spending and wallet.status == "frozen":
            raise Problem(409, "wallet_frozen", "Wallet is frozen", f"{role} wallet {wallet_id} is frozen")
        return wallet
