"""Ledger command handlers: post or void an entry, open wallet accounts."""

from __future__ import annotations

from prometheus_client import Counter

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.processing import MessageHandler
from ledgerline.ledger import domain, repository
from ledgerline.ledger.domain import Account, AccountKind, EntryRejection, Posting

SOURCE = "/ledgerline/ledger"
POSTINGS = Counter("ledgerline_postings_total", "Postings written", ["currency"])
ENTRIES = Counter("ledgerline_journal_entries_total", "Journal entries by outcome", ["outcome"])


def _reply(uow: UnitOfWork, type_: str, body: c.Contract, payment_id: object) -> None:
    uow.publish(c.message(type_, body, key=str(payment_id), source=SOURCE))


async def post_entry(envelope: Envelope, uow: UnitOfWork) -> None:
    command = c.PostEntry.model_validate(envelope.data)
    connection = uow.connection
    lines = [Posting(p.account_id, p.currency, p.amount_minor) for p in command.postings]
    domain.check_balanced(lines)  # An unbalanced command is a bug upstream: fail loudly.
    posted = c.EntryPosted(entry_id=command.entry_id, payment_id=command.payment_id)
    if await repository.entry_exists(connection, command.entry_id):
        _reply(uow, c.ENTRY_POSTED, posted, command.payment_id)
        return
    if await repository.entry_voided(connection, command.entry_id):
        _reject(uow, command, EntryRejection.ENTRY_VOIDED)
        return
    # Accounts open on first use, so a posting never waits for the wallet-opened event.
    await repository.ensure_accounts(
        connection,
        [Account(p.account_id, AccountKind(p.account_kind), p.currency) for p in command.postings],
    )
    accounts = await repository.lock_accounts(connection, [p.account_id for p in lines])
    reason = domain.rejection(lines, accounts)
    if reason is not None:
        _reject(uow, command, reason)
        return
    changed, applied = domain.apply_postings(lines, accounts)
    await repository.add_entry(
        connection,
        entry_id=command.entry_id,
        payment_id=command.payment_id,
        description=command.description,
        applied=applied,
    )
    await repository.save_accounts(connection, changed.values())
    for line in lines:
        POSTINGS.labels(line.currency).inc()
    ENTRIES.labels("posted").inc()
    _reply(uow, c.ENTRY_POSTED, posted, command.payment_id)


def _reject(uow: UnitOfWork, command: c.PostEntry, reason: EntryRejection) -> None:
    ENTRIES.labels(f"rejected_{reason.value}").inc()
    body = c.EntryRejected(entry_id=command.entry_id, payment_id=command.payment_id, reason=reason.value)
    _reply(uow, c.ENTRY_REJECTED, body, command.payment_id)


async def void_entry(envelope: Envelope, uow: UnitOfWork) -> None:
    """Either the entry was posted (say so) or it never will be (remember the void)."""
    command = c.VoidEntry.model_validate(envelope.data)
    connection = uow.connection
    if await repository.entry_exists(connection, command.entry_id):
        _reply(
            uow,
            c.ENTRY_POSTED,
            c.EntryPosted(entry_id=command.entry_id, payment_id=command.payment_id),
            command.payment_id,
        )
        return
    await repository.mark_voided(connection, command.entry_id, command.payment_id)
    _reply(
        uow, c.ENTRY_VOIDED, c.EntryVoided(entry_id=command.entry_id, payment_id=command.payment_id), command.payment_id
    )


async def wallet_opened(envelope: Envelope, uow: UnitOfWork) -> None:
    event = c.WalletOpened.model_validate(envelope.data)
    await repository.ensure_accounts(uow.connection, [Account(event.wallet_id, AccountKind.WALLET, event.currency)])


HANDLERS: dict[str, MessageHandler] = {
    c.POST_ENTRY: post_entry,
    c.VOID_ENTRY: void_entry,
}
WALLET_EVENT_HANDLERS: dict[str, MessageHandler] = {c.WALLET_OPENED: wallet_opened}
