"""Linked holds: the holds of an atomic transfer batch, placed all together or not at all.

Pure: each hold is taken in order on the wallets as the holds
before it left them, so two holds on one wallet add up; the first that cannot be taken refuses
the group, and nothing else is held. `handlers.reserve_group` applies it to a consumed batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledgerline.wallet import domain
from ledgerline.wallet.domain import RejectionReason, Wallet

# The reason given to every member of a refused group but the one that refused it.
LINKED_TRANSFER_FAILED = "linked_transfer_failed"


@dataclass(frozen=True, slots=True)
class HoldRequest:
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: int


@dataclass(frozen=True, slots=True)
class GroupRefusal:
    """The member that could not be held, and why."""

    payment_id: uuid.UUID
    reason: RejectionReason


def reserve_together(
    wallets: Mapping[uuid.UUID, Wallet], requests: Sequence[HoldRequest], currency: str
) -> dict[uuid.UUID, Wallet] | GroupRefusal:
    """The wallets with every hold taken, or the first member that cannot be held."""
    after: dict[uuid.UUID, Wallet] = {}
    for request in requests:
        wallet = after.get(request.wallet_id) or wallets.get(request.wallet_id)
        outcome = (
            RejectionReason.UNKNOWN_WALLET if wallet is None else domain.reserve(wallet, request.amount_minor, currency)
        )
        if isinstance(outcome, RejectionReason):
            return GroupRefusal(request.payment_id, outcome)
        after[request.wallet_id] = outcome
    return after


def rejections(requests: Sequence[HoldRequest], refusal: GroupRefusal) -> dict[uuid.UUID, str]:
    """Each member's reason: the refusing one's own, the others' that a linked transfer failed."""
    return {
        r.payment_id: refusal.reason.value if r.payment_id == refusal.payment_id else LINKED_TRANSFER_FAILED
        for r in requests
    }
