"""The holds of an atomic batch go to the wallet service as one command, all or none.

A payment of a group waits, like any transfer, on its `Reserve`; where saga commands become
messages, the reserves of a group's payments become one `ReserveGroup` carrying every member's
hold. Its message id derives from the group, so the saga timer's re-send and a redelivery are
the same command to the wallet's inbox, which answers it from the holds it recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.core import contracts as c
from ledgerline.core.events import OutgoingMessage
from ledgerline.payment import domain as d
from ledgerline.payment import messages, repository
from ledgerline.payment.domain import Payment

# A payment, the commands it sends next, and the trace they go out in.
Sent = tuple[Payment, Sequence[d.Command], str | None]


def group_command_id(group_id: uuid.UUID) -> str:
    return str(uuid.uuid5(group_id, "reserve_group"))


def group_hold(group_id: uuid.UUID, members: Sequence[Payment], traceparent: str | None) -> OutgoingMessage:
    """One command holding every member's amount on its source wallet, members in id order."""
    ordered = sorted(members, key=lambda p: p.id)
    if not ordered or any(p.group_id != group_id or p.source_wallet_id is None for p in ordered):
        raise d.SagaError(f"group {group_id} has no members to hold, or one without a source")
    holds = tuple(
        c.GroupHold(payment_id=p.id, wallet_id=p.source_wallet_id, amount_minor=p.amount_minor)
        for p in ordered
        if p.source_wallet_id is not None
    )
    body = c.ReserveGroup(group_id=group_id, currency=ordered[0].currency, holds=holds)
    return c.message(
        c.RESERVE_GROUP,
        body,
        key=str(group_id),
        source=messages.SOURCE,
        message_id=group_command_id(group_id),
        traceparent=traceparent,
    )


def messages_of(sent: Sequence[Sent], members: Mapping[uuid.UUID, Sequence[Payment]]) -> list[OutgoingMessage]:
    """Every payment's commands as messages, with one group command for a group's reserves."""
    out: list[OutgoingMessage] = []
    groups_sent: set[uuid.UUID] = set()
    for payment, commands, trace in sent:
        group_id = payment.group_id
        own = [command for command in commands if group_id is None or not isinstance(command, d.Reserve)]
        out.extend(messages.to_messages(payment, own, traceparent=trace))
        if group_id is not None and len(own) < len(commands) and group_id not in groups_sent:
            groups_sent.add(group_id)
            out.append(group_hold(group_id, members[group_id], trace))
    return out


async def saga_messages(connection: AsyncConnection, sent: Sequence[Sent]) -> list[OutgoingMessage]:
    """`messages_of`, with the members of every group whose hold is (re-)sent read in `connection`."""
    waiting = {p.group_id for p, commands, _ in sent if p.group_id and any(isinstance(x, d.Reserve) for x in commands)}
    return messages_of(sent, await repository.group_members(connection, waiting) if waiting else {})
