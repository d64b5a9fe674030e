"""An operator's release of a hold that its payment left behind, audited.

`ledgerline verify` finds live holds whose payment ended (or that no payment has); they keep
money unavailable for good. Releasing one is an explicit act: the payment service is asked what
became of the payment (with the operator's own token: the lookup is made on their authority),
the hold is released only if the payment ended with no money moved or does not exist, and the
release, who asked for it and why commit in the transaction that frees the money.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

import httpx

from ledgerline.core.db import UnitOfWork
from ledgerline.wallet import domain, repository
from ledgerline.wallet.domain import HoldRelease, HoldStatus, Wallet

_log = logging.getLogger(__name__)


class PaymentStatusUnknown(Exception):
    """The payment service did not say what became of the payment (unreachable, or an error)."""


class HoldMissing(Exception):
    """No hold was ever taken for this payment."""


async def payment_status(payments: httpx.AsyncClient, payment_id: uuid.UUID, authorization: str) -> str | None:
    """The payment's status, or None when the payment service has no such payment."""
    try:
        response = await payments.get(f"/v1/payments/{payment_id}", headers={"authorization": authorization})
    except httpx.HTTPError as error:
        raise PaymentStatusUnknown(f"the payment service did not answer: {type(error).__name__}") from error
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise PaymentStatusUnknown(f"the payment service answered {response.status_code}")
    return str(response.json()["status"])


async def release_stranded_hold(
    uow: UnitOfWork, payment_id: uuid.UUID, payment_status: str | None, released_by: str, reason: str
) -> tuple[HoldRelease, Wallet]:
    """Release the hold of `payment_id` and record who did it and why, in one transaction."""
    async with uow:
        seen = await repository.get_hold(uow.connection, payment_id)
        if seen is None:
            raise HoldMissing(payment_id)
        wallet = await repository.get_wallet(uow.connection, seen.wallet_id, for_update=True)
        # Read again under the wallet's lock, which every change of its holds takes first.
        hold = await repository.get_hold(uow.connection, payment_id)
        if wallet is None or hold is None:
            raise HoldMissing(payment_id)
        released = domain.release_stranded(wallet, hold, payment_status)
        record = HoldRelease(
            payment_id, wallet.id, hold.amount_minor, wallet.currency, payment_status, released_by, reason
        )
        await repository.save_wallet(uow.connection, released)
        await repository.put_hold(uow.connection, replace(hold, status=HoldStatus.RELEASED))
        record = await repository.add_hold_release(uow.connection, record)
        await uow.commit()
    _log.warning(
        "hold of payment %s released by hand: %s %s on wallet %s, payment %s, by %s: %s",
        payment_id,
        record.amount_minor,
        record.currency,
        record.wallet_id,
        payment_status or "unknown to the payment service",
        released_by,
        reason,
    )
    return record, released
