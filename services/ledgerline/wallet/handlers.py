"""Wallet command handlers: each applies one command and replies through the outbox.

Handlers are safe to run twice for the same payment: the hold keyed by the payment id records
what was done, so a repeated command repeats the reply, never the effect.
"""

from __future__ import annotations

from dataclasses import replace

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.processing import MessageHandler
from ledgerline.wallet import domain, repository
from ledgerline.wallet.domain import Hold, HoldStatus, RejectionReason

SOURCE = "/ledgerline/wallet"


def _reply(uow: UnitOfWork, type_: str, body: c.Contract, payment_id: object) -> None:
    uow.publish(c.message(type_, body, key=str(payment_id), source=SOURCE))


async def reserve_funds(envelope: Envelope, uow: UnitOfWork) -> None:
    command = c.ReserveFunds.model_validate(envelope.data)
    connection = uow.connection
    wallet = await repository.get_wallet(connection, command.wallet_id, for_update=True)
    existing = await repository.get_hold(connection, command.payment_id)
    if existing is not None:
        if existing.status is HoldStatus.RELEASED:
            _reject(uow, command, RejectionReason.HOLD_RELEASED)
        else:
            _reply(
                uow,
                c.FUNDS_RESERVED,
                c.FundsReserved(payment_id=command.payment_id, wallet_id=command.wallet_id),
                command.payment_id,
            )
        return
    if wallet is None:
        _reject(uow, command, RejectionReason.UNKNOWN_WALLET)
        return
    outcome = domain.reserve(wallet, command.amount_minor, command.currency)
    if isinstance(outcome, RejectionReason):
        _reject(uow, command, outcome)
        return
    await repository.save_wallet(connection, outcome)
    await repository.put_hold(connection, Hold(command.payment_id, wallet.id, command.amount_minor, HoldStatus.HELD))
    _reply(
        uow, c.FUNDS_RESERVED, c.FundsReserved(payment_id=command.payment_id, wallet_id=wallet.id), command.payment_id
    )


def _reject(uow: UnitOfWork, command: c.ReserveFunds, reason: RejectionReason) -> None:
    body = c.FundsRejected(payment_id=command.payment_id, wallet_id=command.wallet_id, reason=reason.value)
    _reply(uow, c.FUNDS_REJECTED, body, command.payment_id)


async def release_funds(envelope: Envelope, uow: UnitOfWork) -> None:
    command = c.ReleaseFunds.model_validate(envelope.data)
    connection = uow.connection
    wallet = await repository.get_wallet(connection, command.wallet_id, for_update=True)
    hold = await repository.get_hold(connection, command.payment_id)
    if hold is None:
        # Nothing was reserved (or the reserve is still in flight): leave a released marker so
        # a late reserve for this payment is refused instead of stranding funds.
        await repository.put_hold(connection, Hold(command.payment_id, command.wallet_id, 0, HoldStatus.RELEASED))
    elif hold.status is HoldStatus.HELD:
        if wallet is None:
            raise domain.InvariantViolation(f"hold {hold.payment_id} on a missing wallet")
        await repository.save_wallet(connection, domain.release(wallet, hold))
        await repository.put_hold(
            connection, Hold(hold.payment_id, hold.wallet_id, hold.amount_minor, HoldStatus.RELEASED)
        )
    elif hold.status is HoldStatus.SETTLED:
        raise domain.InvariantViolation(f"release of settled hold {hold.payment_id}")
    _reply(
        uow,
        c.FUNDS_RELEASED,
        c.FundsReleased(payment_id=command.payment_id, wallet_id=command.wallet_id),
        command.payment_id,
    )


async def settle_funds(envelope: Envelope, uow: UnitOfWork) -> None:
    command = c.SettleFunds.model_validate(envelope.data)
    connection = uow.connection
    ids = [credit.wallet_id for credit in command.credits]
    if command.debit_wallet_id is not None:
        ids.append(command.debit_wallet_id)
    locked = await repository.lock_wallets(connection, ids)
    missing = set(ids) - set(locked)
    if missing:
        raise domain.InvariantViolation(f"settle for payment {command.payment_id}: no wallets {missing}")
    hold = await repository.get_hold(connection, command.payment_id)
    if hold is not None and hold.status is HoldStatus.SETTLED:
        _reply(uow, c.FUNDS_SETTLED, c.FundsSettled(payment_id=command.payment_id), command.payment_id)
        return
    changed: dict[object, domain.Wallet] = {}
    if command.debit_wallet_id is not None:
        if hold is None:
            raise domain.InvariantViolation(f"settle of payment {command.payment_id} without a hold")
        changed[hold.wallet_id] = domain.settle_debit(locked[hold.wallet_id], hold)
    for credit in command.credits:
        current = changed.get(credit.wallet_id, locked[credit.wallet_id])
        changed[credit.wallet_id] = domain.credit(current, credit.amount_minor)
    for wallet_id, wallet in changed.items():
        await repository.save_wallet(connection, _collapse(locked[wallet_id], wallet))  # type: ignore[index]
    # A settle without debit still leaves a marker, so a repeated credit is not applied twice.
    amount = hold.amount_minor if hold else 0
    wallet_for_marker = hold.wallet_id if hold else command.credits[0].wallet_id
    await repository.put_hold(connection, Hold(command.payment_id, wallet_for_marker, amount, HoldStatus.SETTLED))
    _reply(uow, c.FUNDS_SETTLED, c.FundsSettled(payment_id=command.payment_id), command.payment_id)


def _collapse(original: domain.Wallet, changed: domain.Wallet) -> domain.Wallet:
    """Several changes to one wallet in one command are written as one version step."""
    return replace(changed, version=original.version + 1)


HANDLERS: dict[str, MessageHandler] = {
    c.RESERVE_FUNDS: reserve_funds,
    c.RELEASE_FUNDS: release_funds,
    c.SETTLE_FUNDS: settle_funds,
}
