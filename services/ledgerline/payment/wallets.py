"""What the payment service knows of wallets before accepting a payment.

A wallet's id and currency never change and wallets are never deleted, so the payment service
keeps a copy: `wallet.opened` events fill the `known_wallets` table, a wallet it has not heard
of yet (opened a moment ago) is asked of the wallet service once (with this service's token)
and remembered, and recent answers stay in memory (bounded, least recently used first out).
The copy holds each wallet's owner too: money leaves a wallet only at its owner's request, and
a wallet that is not the caller's answers exactly as one that does not exist. Whether a wallet
is frozen is not decided here: the wallet service refuses the hold, and the payment fails with
`wallet_frozen`, like `insufficient_funds`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
from cachetools import LRUCache
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.problems import Problem
from ledgerline.payment.ports import WalletInfo, WalletLookup
from ledgerline.payment.tables import known_wallets

KNOWN_WALLETS_IN_MEMORY_MAX = 200_000
_REMEMBER = text(
    "INSERT INTO known_wallets (id, currency, owner_id) "
    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:currencies AS text[]), CAST(:owners AS text[])) "
    "ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id WHERE known_wallets.owner_id IS NULL"
)


async def remember(connection: AsyncConnection, wallets: Sequence[WalletInfo]) -> None:
    if wallets:
        await connection.execute(
            _REMEMBER,
            {
                "ids": [w.id for w in wallets],
                "currencies": [w.currency for w in wallets],
                "owners": [w.owner_id for w in wallets],
            },
        )


async def remember_opened(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
    """`wallet.opened` events, a consumed batch at a time."""
    events = [c.WalletOpened.model_validate(e.data) for e in envelopes]
    await remember(uow.connection, [WalletInfo(e.wallet_id, e.currency, e.owner_id) for e in events])


class WalletDirectory(WalletLookup):
    def __init__(
        self, client: httpx.AsyncClient, engine: AsyncEngine, in_memory_max: int = KNOWN_WALLETS_IN_MEMORY_MAX
    ) -> None:
        self._client = client
        self._engine = engine
        self._recent: LRUCache[uuid.UUID, WalletInfo] = LRUCache(maxsize=in_memory_max)

    async def get(self, wallet_id: uuid.UUID) -> WalletInfo | None:
        info = self._recent.get(wallet_id) or await self._known(wallet_id) or await self._ask(wallet_id)
        if info is not None:
            self._recent[wallet_id] = info
        return info

    async def _known(self, wallet_id: uuid.UUID) -> WalletInfo | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(known_wallets).where(known_wallets.c.id == wallet_id))).first()
        # A row from before owners were recorded is asked about again, once.
        return WalletInfo(row.id, row.currency, row.owner_id) if row and row.owner_id else None

    async def _ask(self, wallet_id: uuid.UUID) -> WalletInfo | None:
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
        info = WalletInfo(uuid.UUID(body["id"]), body["currency"], body["owner_id"])
        async with self._engine.begin() as connection:
            await remember(connection, [info])
        return info
