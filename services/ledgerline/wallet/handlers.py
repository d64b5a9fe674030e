"""Wallet commands, applied a consumed batch at a time.

Every wallet and hold the batch names is read once (wallets locked in id order, so concurrent
batches cannot deadlock), the commands run in memory in the order they arrived, and each
changed wallet and hold is written once. Handlers are safe to run twice for the same payment:
the hold keyed by the payment id records what was done, so a repeated command repeats the
reply, never the effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope, OutgoingMessage
from ledgerline.core.processing import BatchHandling
from ledgerline.wallet import domain, linked_holds
from ledgerline.wallet.domain import Hold, HoldStatus, RejectionReason, Wallet
from ledgerline.wallet.linked_holds import LINKED_TRANSFER_FAILED, HoldRequest
from ledgerline.wallet.ports import WalletStore
from ledgerline.wallet.repository import SqlWalletStore

SOURCE = "/ledgerline/wallet"


@dataclass
class Book:
    """The wallets and holds a batch touches, as they stand after each command."""

    wallets: dict[uuid.UUID, Wallet]
    holds: dict[uuid.UUID, Hold]
    changed_wallets: set[uuid.UUID] = field(default_factory=set)
    changed_holds: set[uuid.UUID] = field(default_factory=set)

    def put_wallet(self, wallet: Wallet) -> None:
        self.wallets[wallet.id] = wallet
        self.changed_wallets.add(wallet.id)

    def put_hold(self, hold: Hold) -> None:
        self.holds[hold.payment_id] = hold
        self.changed_holds.add(hold.payment_id)


def _reply(type_: str, body: c.Contract, payment_id: object) -> OutgoingMessage:
    return c.message(type_, body, key=str(payment_id), source=SOURCE)


def _reason_of(rejected: Hold) -> RejectionReason:
    if rejected.reason is None:
        raise ValueError(f"hold of payment {rejected.payment_id} was rejected without a reason")
    return RejectionReason(rejected.reason)


def reserve_funds(command: c.ReserveFunds, book: Book) -> OutgoingMessage:
    existing = book.holds.get(command.payment_id)
    reserved = _reply(
        c.FUNDS_RESERVED,
        c.FundsReserved(payment_id=command.payment_id, wallet_id=command.wallet_id),
        command.payment_id,
    )
    if existing is not None:
        if existing.status is HoldStatus.REJECTED:
            return _rejected(command, _reason_of(existing))
        return _rejected(command, RejectionReason.HOLD_RELEASED) if existing.status is HoldStatus.RELEASED else reserved
    wallet = book.wallets.get(command.wallet_id)
    outcome = (
        RejectionReason.UNKNOWN_WALLET
        if wallet is None
        else domain.reserve(wallet, command.amount_minor, command.currency)
    )
    if isinstance(outcome, RejectionReason):
        # Remembered, so this command arriving again (a re-send) is refused again, even if the
        # wallet could pay by then: the payment has already failed on the first answer.
        book.put_hold(Hold(command.payment_id, command.wallet_id, 0, HoldStatus.REJECTED, outcome.value))
        return _rejected(command, outcome)
    book.put_wallet(outcome)
    book.put_hold(Hold(command.payment_id, command.wallet_id, command.amount_minor, HoldStatus.HELD))
    return reserved


def _rejected(command: c.ReserveFunds, reason: RejectionReason) -> OutgoingMessage:
    body = c.FundsRejected(payment_id=command.payment_id, wallet_id=command.wallet_id, reason=reason.value)
    return _reply(c.FUNDS_REJECTED, body, command.payment_id)


def release_funds(command: c.ReleaseFunds, book: Book) -> OutgoingMessage:
    hold = book.holds.get(command.payment_id)
    if hold is None:
        # Nothing was reserved (or the reserve is still in flight): leave a released marker so
        # a late reserve for this payment is refused instead of stranding funds.
        book.put_hold(Hold(command.payment_id, command.wallet_id, 0, HoldStatus.RELEASED))
    elif hold.status is HoldStatus.HELD:
        wallet = book.wallets.get(hold.wallet_id)
        if wallet is None:
            raise domain.InvariantViolation(f"hold {hold.payment_id} on a missing wallet")
        book.put_wallet(domain.release(wallet, hold))
        book.put_hold(replace(hold, status=HoldStatus.RELEASED))
    elif hold.status is HoldStatus.SETTLED:
        raise domain.InvariantViolation(f"release of settled hold {hold.payment_id}")
    # A released or rejected hold holds nothing: the answer is the same.
    body = c.FundsReleased(payment_id=command.payment_id, wallet_id=command.wallet_id)
    return _reply(c.FUNDS_RELEASED, body, command.payment_id)


def settle_funds(command: c.SettleFunds, book: Book) -> OutgoingMessage:
    settled = _reply(c.FUNDS_SETTLED, c.FundsSettled(payment_id=command.payment_id), command.payment_id)
    missing = set(_wallets_of(command)) - set(book.wallets)
    if missing:
        raise domain.InvariantViolation(f"settle for payment {command.payment_id}: no wallets {missing}")
    hold = book.holds.get(command.payment_id)
    if hold is not None and hold.status is HoldStatus.SETTLED:
        return settled
    if command.debit_wallet_id is not None:
        if hold is None:
            raise domain.InvariantViolation(f"settle of payment {command.payment_id} without a hold")
        book.put_wallet(domain.settle_debit(book.wallets[hold.wallet_id], hold))
    for credit in command.credits:
        book.put_wallet(domain.credit(book.wallets[credit.wallet_id], credit.amount_minor))
    # A settle without debit still leaves a marker, so a repeated credit is not applied twice.
    amount = hold.amount_minor if hold else 0
    wallet_for_marker = hold.wallet_id if hold else command.credits[0].wallet_id
    book.put_hold(Hold(command.payment_id, wallet_for_marker, amount, HoldStatus.SETTLED))
    return settled


def reserve_group(command: c.ReserveGroup, book: Book) -> OutgoingMessage:
    """Every hold of an atomic batch, or none (`linked_holds`); each member's hold is recorded
    either way, so the group command arriving again is answered from the record."""
    requests = [HoldRequest(h.payment_id, h.wallet_id, h.amount_minor) for h in command.holds]
    recorded = [book.holds.get(r.payment_id) for r in requests]
    if any(hold is not None for hold in recorded):
        return _group_answered_again(command, recorded)
    outcome = linked_holds.reserve_together(book.wallets, requests, command.currency)
    if isinstance(outcome, linked_holds.GroupRefusal):
        reasons = linked_holds.rejections(requests, outcome)
        for r in requests:
            book.put_hold(Hold(r.payment_id, r.wallet_id, 0, HoldStatus.REJECTED, reasons[r.payment_id]))
        return _group_rejected(command, reasons)
    for wallet in outcome.values():
        book.put_wallet(wallet)
    for r in requests:
        book.put_hold(Hold(r.payment_id, r.wallet_id, r.amount_minor, HoldStatus.HELD))
    return _group_reserved(command)


def _group_answered_again(command: c.ReserveGroup, recorded: Sequence[Hold | None]) -> OutgoingMessage:
    holds = [hold for hold in recorded if hold is not None]
    rejected = [hold for hold in holds if hold.status is HoldStatus.REJECTED]
    if len(holds) != len(recorded) or (rejected and len(rejected) != len(holds)):
        raise domain.InvariantViolation(f"group {command.group_id} is decided for some members only")
    if rejected:
        return _group_rejected(command, {h.payment_id: h.reason or LINKED_TRANSFER_FAILED for h in rejected})
    return _group_reserved(command)  # Held, perhaps settled since: the group was held.


def _group_reserved(command: c.ReserveGroup) -> OutgoingMessage:
    body = c.GroupReserved(group_id=command.group_id, payment_ids=tuple(h.payment_id for h in command.holds))
    return _reply(c.GROUP_RESERVED, body, command.group_id)


def _group_rejected(command: c.ReserveGroup, reasons: Mapping[uuid.UUID, str]) -> OutgoingMessage:
    rejected = tuple(c.GroupRejection(payment_id=h.payment_id, reason=reasons[h.payment_id]) for h in command.holds)
    return _reply(c.GROUP_REJECTED, c.GroupRejected(group_id=command.group_id, rejections=rejected), command.group_id)


WalletCommand = c.ReserveFunds | c.ReleaseFunds | c.SettleFunds | c.ReserveGroup


def _wallets_of(command: WalletCommand) -> list[uuid.UUID]:
    if isinstance(command, c.ReserveGroup):
        return [hold.wallet_id for hold in command.holds]
    if isinstance(command, c.SettleFunds):
        debit = [command.debit_wallet_id] if command.debit_wallet_id is not None else []
        return debit + [credit.wallet_id for credit in command.credits]
    return [command.wallet_id]


def _payments_of(command: WalletCommand) -> list[uuid.UUID]:
    if isinstance(command, c.ReserveGroup):
        return [hold.payment_id for hold in command.holds]
    return [command.payment_id]


_COMMANDS: dict[str, tuple[type[Any], Callable[[Any, Book], OutgoingMessage]]] = {
    c.RESERVE_FUNDS: (c.ReserveFunds, reserve_funds),
    c.RELEASE_FUNDS: (c.ReleaseFunds, release_funds),
    c.SETTLE_FUNDS: (c.SettleFunds, settle_funds),
    c.RESERVE_GROUP: (c.ReserveGroup, reserve_group),
}


async def apply_commands(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
    await apply_command_batch(envelopes, SqlWalletStore(uow.connection), uow.publish)


async def apply_command_batch(
    envelopes: Sequence[Envelope], store: WalletStore, publish: Callable[[OutgoingMessage], None]
) -> None:
    """Apply wallet commands in arrival order; `publish` takes each reply for the transaction's outbox."""
    commands = [(_COMMANDS[e.type][1], _COMMANDS[e.type][0].model_validate(e.data)) for e in envelopes]
    wallet_ids = {wallet_id for _, command in commands for wallet_id in _wallets_of(command)}
    locked = await store.lock_wallets(list(wallet_ids))
    holds = await store.get_holds([payment_id for _, command in commands for payment_id in _payments_of(command)])
    book = Book(dict(locked), holds)
    for handle, command in commands:
        publish(handle(command, book))
    # Several changes to one wallet in a batch are written as one version step.
    changed = [replace(book.wallets[i], version=locked[i].version + 1) for i in sorted(book.changed_wallets)]
    await store.save_wallets(changed)
    await store.put_holds([book.holds[i] for i in book.changed_holds])


# Every command's outcome is recorded by payment (holds), so a command seen before is answered
# again from that record: a re-send whose first reply was lost still gets one.
COMMAND_HANDLING = BatchHandling(frozenset(_COMMANDS), apply_commands, answers_duplicates=True)
