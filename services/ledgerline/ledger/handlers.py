"""Ledger commands, applied a consumed batch at a time: post or void entries, open accounts.

Everything a batch names is read once (accounts locked in id order, so concurrent batches
cannot deadlock), the commands run in memory in the order they arrived, and the entries, their
postings and the accounts' new balances are written with one statement each.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope, OutgoingMessage
from ledgerline.core.processing import BatchHandling
from ledgerline.ledger import domain
from ledgerline.ledger.domain import Account, AccountKind, EntryRejection, Posting
from ledgerline.ledger.ports import LedgerStore, NewEntry
from ledgerline.ledger.repository import SqlLedgerStore

SOURCE = "/ledgerline/ledger"
POSTINGS = Counter("ledgerline_postings_total", "Postings written", ["currency"])
ENTRIES = Counter("ledgerline_journal_entries_total", "Journal entries by outcome", ["outcome"])


@dataclass
class Book:
    """What a batch reads and what it will write."""

    accounts: dict[uuid.UUID, Account]
    posted: set[uuid.UUID]  # Entries that exist, before or within this batch.
    voided: set[uuid.UUID]
    changed_accounts: set[uuid.UUID] = field(default_factory=set)
    new_entries: list[NewEntry] = field(default_factory=list)
    new_voids: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)


def _reply(type_: str, body: c.Contract, payment_id: object) -> OutgoingMessage:
    return c.message(type_, body, key=str(payment_id), source=SOURCE)


def _lines(command: c.PostEntry) -> list[Posting]:
    return [Posting(p.account_id, p.currency, p.amount_minor) for p in command.postings]


def post_entry(command: c.PostEntry, book: Book) -> OutgoingMessage:
    lines = _lines(command)
    domain.check_balanced(lines)  # An unbalanced command is a bug upstream: fail loudly.
    posted = _reply(
        c.ENTRY_POSTED, c.EntryPosted(entry_id=command.entry_id, payment_id=command.payment_id), command.payment_id
    )
    if command.entry_id in book.posted:
        return posted
    if command.entry_id in book.voided:
        return _rejected(command, EntryRejection.ENTRY_VOIDED)
    reason = domain.rejection(lines, book.accounts)
    if reason is not None:
        return _rejected(command, reason)
    changed, applied = domain.apply_postings(lines, book.accounts)
    book.accounts.update(changed)
    book.changed_accounts.update(changed)
    book.posted.add(command.entry_id)
    book.new_entries.append(NewEntry(command.entry_id, command.payment_id, command.description, applied))
    for line in lines:
        POSTINGS.labels(line.currency).inc()
    ENTRIES.labels("posted").inc()
    return posted


def _rejected(command: c.PostEntry, reason: EntryRejection) -> OutgoingMessage:
    ENTRIES.labels(f"rejected_{reason.value}").inc()
    body = c.EntryRejected(entry_id=command.entry_id, payment_id=command.payment_id, reason=reason.value)
    return _reply(c.ENTRY_REJECTED, body, command.payment_id)


def void_entry(command: c.VoidEntry, book: Book) -> OutgoingMessage:
    """Either the entry was posted (say so) or it never will be (remember the void)."""
    ids = {"entry_id": command.entry_id, "payment_id": command.payment_id}
    if command.entry_id in book.posted:
        return _reply(c.ENTRY_POSTED, c.EntryPosted(**ids), command.payment_id)
    if command.entry_id not in book.voided:
        book.voided.add(command.entry_id)
        book.new_voids.append((command.entry_id, command.payment_id))
    return _reply(c.ENTRY_VOIDED, c.EntryVoided(**ids), command.payment_id)


async def apply_commands(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
    await apply_command_batch(envelopes, SqlLedgerStore(uow.connection), uow.publish)


async def apply_command_batch(
    envelopes: Sequence[Envelope], store: LedgerStore, publish: Callable[[OutgoingMessage], None]
) -> None:
    """Post or void entries in arrival order; `publish` takes each reply for the transaction's outbox."""
    commands = [
        c.PostEntry.model_validate(e.data) if e.type == c.POST_ENTRY else c.VoidEntry.model_validate(e.data)
        for e in envelopes
    ]
    entry_ids = [command.entry_id for command in commands]
    # Accounts open on first use, so a posting never waits for the wallet-opened event.
    wanted = {
        p.account_id: Account(p.account_id, AccountKind(p.account_kind), p.currency)
        for command in commands
        if isinstance(command, c.PostEntry)
        for p in command.postings
    }
    await store.ensure_accounts(wanted.values())
    book = Book(
        accounts=await store.lock_accounts(wanted),
        posted=await store.existing_entries(entry_ids),
        voided=await store.voided_entries_of(entry_ids),
    )
    for command in commands:
        publish(post_entry(command, book) if isinstance(command, c.PostEntry) else void_entry(command, book))
    await store.add_entries(book.new_entries)
    await store.mark_voided_many(book.new_voids)
    await store.save_accounts([book.accounts[i] for i in sorted(book.changed_accounts)])


async def open_accounts(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
    await open_wallet_accounts(envelopes, SqlLedgerStore(uow.connection))


async def open_wallet_accounts(envelopes: Sequence[Envelope], store: LedgerStore) -> None:
    events = [c.WalletOpened.model_validate(e.data) for e in envelopes]
    await store.ensure_accounts([Account(e.wallet_id, AccountKind.WALLET, e.currency) for e in events])


# An entry's fate (posted, voided, refused by an account that stays closed) is decided by what
# is stored, so a command seen before is answered again: a re-send whose reply was lost gets one.
COMMAND_HANDLING = BatchHandling(frozenset({c.POST_ENTRY, c.VOID_ENTRY}), apply_commands, answers_duplicates=True)
WALLET_EVENT_HANDLING = BatchHandling(frozenset({c.WALLET_OPENED}), open_accounts)
