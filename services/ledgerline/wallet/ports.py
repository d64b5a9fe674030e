"""What the wallet's command handlers need from storage, as a port: the PostgreSQL adapter
(`repository.SqlWalletStore`) implements it, and so do the unit tests' in-memory fakes."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence

from ledgerline.wallet.domain import Hold, Wallet


class WalletStore(ABC):
    """Wallets and holds within one transaction."""

    @abstractmethod
    async def lock_wallets(self, wallet_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Wallet]:
        """The wallets that exist among `wallet_ids`, locked until the transaction ends."""

    @abstractmethod
    async def get_holds(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Hold]:
        """The holds recorded for `payment_ids`, by payment id."""

    @abstractmethod
    async def save_wallets(self, changed: Sequence[Wallet]) -> None:
        """Write wallets each one version past the stored row; raise `ConcurrentUpdate` otherwise."""

    @abstractmethod
    async def put_holds(self, changed: Sequence[Hold]) -> None:
        """Insert holds, or move existing ones to their new status and reason."""
