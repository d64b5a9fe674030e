"""Who owns a wallet, for services that keep no copy of wallets (ledger, notification).

Asked of the wallet service with the service's own token and remembered: a wallet's owner never
changes and wallets are never deleted. Only answers about existing wallets are kept, since a
wallet unknown now may be opened a moment later.
"""

from __future__ import annotations

import uuid

import httpx
from cachetools import LRUCache

from ledgerline.core.problems import Problem

OWNERS_REMEMBERED_MAX = 100_000


class WalletOwners:
    def __init__(self, wallet_service: httpx.AsyncClient, remembered_max: int = OWNERS_REMEMBERED_MAX) -> None:
        self._http = wallet_service
        self._owners: LRUCache[uuid.UUID, str] = LRUCache(maxsize=remembered_max)

    async def owner_of(self, wallet_id: uuid.UUID) -> str | None:
        """The wallet's owner, or None when there is no such wallet."""
        owner = self._owners.get(wallet_id)
        if owner is not None:
            return owner
        try:
            response = await self._http.get(f"/v1/wallets/{wallet_id}")
        except httpx.HTTPError as exc:
            raise Problem(503, "wallet_service_unavailable", "Wallet service unavailable", str(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Problem(
                502, "wallet_service_error", "Wallet service error", f"wallet service answered {response.status_code}"
            )
        owner = str(response.json()["owner_id"])
        self._owners[wallet_id] = owner
        return owner

    async def aclose(self) -> None:
        await self._http.aclose()
