"""What the ledger's command handlers need from storage, as a port: the PostgreSQL adapter
(`repository.SqlLedgerStore`) implements it, and so do the unit tests' in-memory fakes."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledgerline.ledger.domain import Account, AppliedPosting


@dataclass(frozen=True, slots=True)
class NewEntry:
    entry_id: uuid.UUID
    payment_id: uuid.UUID
    description: str
    applied: Sequence[AppliedPosting]


class LedgerStore(ABC):
    """Accounts, journal entries and voids within one transaction."""

    @abstractmethod
    async def ensure_accounts(self, wanted: Iterable[Account]) -> None:
        """Open the accounts that do not exist yet, empty; leave the others as they are."""

    @abstractmethod
    async def lock_accounts(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Account]:
        """The accounts among `ids`, locked until the transaction ends."""

    @abstractmethod
    async def existing_entries(self, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `entry_ids` are posted."""

    @abstractmethod
    async def voided_entries_of(self, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `entry_ids` are voided (will never be posted)."""

    @abstractmethod
    async def add_entries(self, entries: Sequence[NewEntry]) -> None:
        """Insert entries with their postings; an entry is only ever inserted once."""

    @abstractmethod
    async def mark_voided_many(self, voids: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Record (entry id, payment id) voids; a void recorded before stays as it is."""

    @abstractmethod
    async def save_accounts(self, changed: Sequence[Account]) -> None:
        """Write accounts' balances and statuses; raise `ConcurrentUpdate` if one is missing."""
