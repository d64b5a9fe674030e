"""What starting a payment needs to look up, as ports: the service's adapters implement them
(`wallets.WalletDirectory`, `repository.SqlPaymentLookup`), and so do the unit tests' fakes."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ledgerline.payment.domain import Payment


@dataclass(frozen=True, slots=True)
class WalletInfo:
    """What never changes about a wallet: enough to accept a payment for it."""

    id: uuid.UUID
    currency: str
    owner_id: str


class WalletLookup(ABC):
    @abstractmethod
    async def get(self, wallet_id: uuid.UUID) -> WalletInfo | None:
        """The wallet, or None when there is no such wallet (yet)."""

    async def owner_of(self, wallet_id: uuid.UUID | None) -> str | None:
        if wallet_id is None:
            return None
        wallet = await self.get(wallet_id)
        return wallet.owner_id if wallet else None


class PaymentLookup(ABC):
    @abstractmethod
    async def get(self, payment_id: uuid.UUID) -> Payment | None:
        """The payment as last committed, or None."""
