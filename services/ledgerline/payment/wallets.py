"""What the payment service knows of wallets before accepting a payment.

A wallet's id and currency never change and wallets are never deleted, so once the wallet
service has confirmed a wallet the answer is kept (bounded, least recently used first out) and
later payments cost no call. Whether a wallet is frozen is not decided here: the wallet
service refuses the hold, and the payment fails with `wallet_frozen`, like `insufficient_funds`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from cachetools import LRUCache

from ledgerline.core.problems import Problem

KNOWN_WALLETS_MAX = 200_000


@dataclass(frozen=True, slots=True)
class WalletInfo:
    id: uuid.UUID
    currency: str


class WalletDirectory:
    def __init__(self, client: httpx.AsyncClient, known_max: int = KNOWN_WALLETS_MAX) -> None:
        self._client = client
        self._known: LRUCache[uuid.UUID, WalletInfo] = LRUCache(maxsize=known_max)

    async def get(self, wallet_id: uuid.UUID) -> WalletInfo | None:
        known = self._known.get(wallet_id)
        if known is not None:
            return known
        try:
            response = await self._client.get(f"/v1/wallets/{wallet_id}")
        except httpx.HTTPError as exc:
            raise Problem(503, "wallet_service_unavailable", "Wallet service unavailable", str(exc)) from None
        if response.status_code == 404:
            return None  # Not kept: the wallet may be opened a moment later.
        if response.status_code != 200:
            raise Problem(
                502, "wallet_service_error", "Wallet service error", f"wallet service answered {response.status_code}"
            )
        body = response.json()
        info = WalletInfo(uuid.UUID(body["id"]), body["currency"])
        self._known[wallet_id] = info
        return info

    async def require(self, wallet_id: uuid.UUID, currency: str, *, role: str) -> WalletInfo:
        """The wallet, checked for use in a payment of `currency`; a 422 problem otherwise."""
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
        return wallet
