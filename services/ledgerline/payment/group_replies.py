"""The wallet's one answer for an atomic batch's holds, applied to every payment of the group.

Held: each payment moves on as a transfer whose hold was taken (post, then settle, steps that
no money rule refuses). Refused: each payment fails with its own reason, the one that could not
be held with the wallet's (`insufficient_funds`, `wallet_frozen`, ...), the others with
`linked_transfer_failed`. The group's payments are locked and moved in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.processing import BatchHandling
from ledgerline.payment import domain as d
from ledgerline.payment import saga


def _steps(envelope: Envelope) -> list[saga.Step]:
    if envelope.type == c.GROUP_RESERVED:
        held = c.GroupReserved.model_validate(envelope.data)
        return [(payment_id, d.on_funds_reserved) for payment_id in held.payment_ids]
    refused = c.GroupRejected.model_validate(envelope.data)
    return [(r.payment_id, _refused_for(r.reason)) for r in refused.rejections]


def _refused_for(reason: str) -> saga.Transition:
    return lambda payment: d.on_funds_rejected(payment, reason)


def group_reply_handling(clock: saga.StepClock) -> BatchHandling:
    async def apply(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
        await saga.apply_steps(uow, clock, [step for envelope in envelopes for step in _steps(envelope)])

    return BatchHandling(frozenset({c.GROUP_RESERVED, c.GROUP_REJECTED}), apply)
