"""In-memory stores and lookups that subclass the service ports, so handlers run in unit tests as
they run on PostgreSQL (the same version check on written wallets, the same upserts), and
messages as a consumer reads them, through the real CloudEvents encoding."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace

from ledgerline.core import contracts as c
from ledgerline.core.db import ConcurrentUpdate
from ledgerline.core.events import Envelope, OutgoingMessage, decode, encode
from ledgerline.core.idempotency import IdempotencyStore, StoredResponse
from ledgerline.core.problems import Problem
from ledgerline.ledger.domain import Account
from ledgerline.ledger.ports import LedgerStore, NewEntry
from ledgerline.payment.domain import Payment
from ledgerline.payment.intake import Acceptance, Check, PaymentIntake
from ledgerline.payment.ports import PaymentLookup, WalletInfo, WalletLookup
from ledgerline.wallet.domain import Hold, Wallet
from ledgerline.wallet.ports import WalletStore


class InMemoryWalletStore(WalletStore):
    def __init__(self, wallets: Iterable[Wallet] = (), holds: Iterable[Hold] = ()) -> None:
        self.wallets = {wallet.id: wallet for wallet in wallets}
        self.holds = {hold.payment_id: hold for hold in holds}

    async def lock_wallets(self, wallet_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Wallet]:
        return {i: self.wallets[i] for i in wallet_ids if i in self.wallets}

    async def get_holds(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Hold]:
        return {i: self.holds[i] for i in payment_ids if i in self.holds}

    async def save_wallets(self, changed: Sequence[Wallet]) -> None:
        stale = [w.id for w in changed if w.id not in self.wallets or self.wallets[w.id].version != w.version - 1]
        if stale:
            raise ConcurrentUpdate(f"{len(stale)} of {len(changed)} wallets were not written")
        self.wallets.update({w.id: w for w in changed})

    async def put_holds(self, changed: Sequence[Hold]) -> None:
        for hold in changed:
            stored = self.holds.get(hold.payment_id)
            # As the SQL upsert: a stored hold keeps its wallet and amount, takes the new status.
            self.holds[hold.payment_id] = (
                hold if stored is None else replace(stored, status=hold.status, reason=hold.reason)
            )


class InMemoryLedgerStore(LedgerStore):
    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self.accounts = {account.id: account for account in accounts}
        self.entries: dict[uuid.UUID, NewEntry] = {}
        self.voided: dict[uuid.UUID, uuid.UUID] = {}

    async def ensure_accounts(self, wanted: Iterable[Account]) -> None:
        for account in wanted:
            self.accounts.setdefault(account.id, replace(account, balance_minor=0, posting_count=0))

    async def lock_accounts(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Account]:
        return {i: self.accounts[i] for i in ids if i in self.accounts}

    async def existing_entries(self, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return set(entry_ids) & set(self.entries)

    async def voided_entries_of(self, entry_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return set(entry_ids) & set(self.voided)

    async def add_entries(self, entries: Sequence[NewEntry]) -> None:
        duplicates = [e.entry_id for e in entries if e.entry_id in self.entries]
        if duplicates:
            raise ValueError(f"entries written twice: {duplicates}")  # The primary key refuses them.
        self.entries.update({e.entry_id: e for e in entries})

    async def mark_voided_many(self, voids: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        for entry_id, payment_id in voids:
            self.voided.setdefault(entry_id, payment_id)

    async def save_accounts(self, changed: Sequence[Account]) -> None:
        missing = [a.id for a in changed if a.id not in self.accounts]
        if missing:
            raise ConcurrentUpdate(f"{len(missing)} of {len(changed)} accounts were not written")
        self.accounts.update({a.id: a for a in changed})


def consumed(type_: str, body: c.Contract, *, key: object = "key") -> Envelope:
    """`body` as a consumer gets it off its topic."""
    record_key, value, headers = encode(c.message(type_, body, key=str(key), source="/tests"))
    return decode(key=record_key, value=value, headers=headers, topic=c.TOPIC_OF[type_])


def replies(published: list[OutgoingMessage]) -> list[tuple[str, dict[str, object]]]:
    """Published replies as (type, body) pairs, in order."""
    return [(message.type, dict(message.data)) for message in published]


class InMemoryWallets(WalletLookup):
    """The wallets the payment service knows of; `asked` records every lookup, in order."""

    def __init__(self, wallets: Iterable[WalletInfo] = ()) -> None:
        self.wallets = {wallet.id: wallet for wallet in wallets}
        self.asked: list[uuid.UUID] = []

    async def get(self, wallet_id: uuid.UUID) -> WalletInfo | None:
        self.asked.append(wallet_id)
        return self.wallets.get(wallet_id)


class InMemoryPayments(PaymentLookup):
    def __init__(self, payments: Iterable[Payment] = ()) -> None:
        self.payments = {payment.id: payment for payment in payments}

    async def get(self, payment_id: uuid.UUID) -> Payment | None:
        return self.payments.get(payment_id)


class InMemoryIdempotencyStore(IdempotencyStore):
    """The idempotency store's two layers: `in_flight` claims (the fast path's markers) and
    `stored` first responses (the database's rows, written by the intake's commit)."""

    def __init__(self) -> None:  # Neither Redis nor a database: the dictionaries stand for both.
        self.in_flight: dict[str, str] = {}
        self.stored: dict[str, tuple[str, StoredResponse]] = {}

    async def begin(self, key: str, fp: str) -> StoredResponse | None:
        stored = await self.lookup(key, fp)
        if stored is not None:
            return stored
        if key in self.in_flight:
            if self.in_flight[key] != fp:
                raise Problem(422, "idempotency_key_reused", "Idempotency-Key was used with a different request")
            raise Problem(409, "idempotency_key_in_flight", "A request with this Idempotency-Key is in flight")
        self.in_flight[key] = fp
        return None

    async def lookup(self, key: str, fp: str) -> StoredResponse | None:
        if key not in self.stored:
            return None
        stored_fp, response = self.stored[key]
        if stored_fp != fp:
            raise Problem(422, "idempotency_key_reused", "Idempotency-Key was used with a different request")
        return response

    async def abandon(self, key: str, fp: str) -> None:
        if self.in_flight.get(key) == fp:
            del self.in_flight[key]


class InMemoryIntake(PaymentIntake):
    """Commits an accepted payment with its response into the store, as one transaction would;
    `crash` raises before anything commits, as a lost database connection does."""

    def __init__(self, store: InMemoryIdempotencyStore) -> None:  # No database, no saga clock.
        self.store = store
        self.committed: list[Acceptance] = []
        self.crash: BaseException | None = None

    async def accept(self, item: Acceptance, check: Check | None = None) -> bool:
        if self.crash is not None:
            raise self.crash
        if item.key in self.store.stored:
            return False
        self.store.stored[item.key] = (item.fingerprint, item.response)
        self.store.in_flight.pop(item.key, None)
        self.committed.append(item)
        return True
