"""Linked holds take every hold of an atomic batch or none: holds on one wallet add up, the first
that cannot be taken refuses the group and names itself, a repeat of the group command is
answered from the recorded holds, a group's reserves go out as one command, and a held group's
entries are never voided by the timer (only a closed account releases one member alone)."""

from __future__ import annotations

import uuid
from dataclasses import replace

from ledgerline.core import contracts as c
from ledgerline.core.events import OutgoingMessage
from ledgerline.payment import domain as d
from ledgerline.payment import group_holds
from ledgerline.wallet.domain import HoldStatus, RejectionReason, Wallet, WalletStatus
from ledgerline.wallet.handlers import apply_command_batch
from ledgerline.wallet.linked_holds import GroupRefusal, HoldRequest, reserve_together
from tests.unit.fakes import InMemoryWalletStore, consumed

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
WALLETS = {A: Wallet(A, "alice", "EUR", 1_000), B: Wallet(B, "bob", "EUR", 500), C: Wallet(C, "carol", "EUR", 0)}


def test_every_hold_is_taken_and_holds_on_one_wallet_add_up() -> None:
    requests = [HoldRequest(uuid.uuid4(), A, 600), HoldRequest(uuid.uuid4(), B, 500), HoldRequest(uuid.uuid4(), A, 400)]
    after = reserve_together(WALLETS, requests, "EUR")
    assert not isinstance(after, GroupRefusal)
    assert {w: (after[w].balance_minor, after[w].held_minor) for w in after} == {A: (1_000, 1_000), B: (500, 500)}
    assert WALLETS[A].held_minor == 0  # The wallets given are values; nothing changed in place.


def test_the_first_hold_that_cannot_be_taken_refuses_the_group() -> None:
    over = HoldRequest(uuid.uuid4(), A, 401)
    requests = [HoldRequest(uuid.uuid4(), A, 600), over, HoldRequest(uuid.uuid4(), C, 1)]
    assert reserve_together(WALLETS, requests, "EUR") == GroupRefusal(
        over.payment_id, RejectionReason.INSUFFICIENT_FUNDS
    )
    frozen = {**WALLETS, B: replace(WALLETS[B], status=WalletStatus.FROZEN)}
    first = HoldRequest(uuid.uuid4(), B, 1)
    refusal = GroupRefusal(first.payment_id, RejectionReason.WALLET_FROZEN)
    assert reserve_together(frozen, [first, HoldRequest(uuid.uuid4(), A, 1)], "EUR") == refusal
    missing = HoldRequest(uuid.uuid4(), uuid.uuid4(), 1)
    assert reserve_together(WALLETS, [missing], "EUR") == GroupRefusal(
        missing.payment_id, RejectionReason.UNKNOWN_WALLET
    )


def _group(*holds: tuple[uuid.UUID, int]) -> tuple[list[uuid.UUID], c.ReserveGroup]:
    payments = [uuid.uuid4() for _ in holds]
    body = c.ReserveGroup(
        group_id=uuid.uuid4(),
        currency="EUR",
        holds=tuple(
            c.GroupHold(payment_id=p, wallet_id=w, amount_minor=a) for p, (w, a) in zip(payments, holds, strict=True)
        ),
    )
    return payments, body


async def _apply(store: InMemoryWalletStore, body: c.ReserveGroup) -> OutgoingMessage:
    published: list[OutgoingMessage] = []
    await apply_command_batch([consumed(c.RESERVE_GROUP, body)], store, published.append)
    (reply,) = published
    return reply


async def test_a_refused_group_holds_nothing_and_says_so_again_when_repeated() -> None:
    store = InMemoryWalletStore(list(WALLETS.values()))
    payments, body = _group((A, 700), (A, 400))
    for _ in range(2):
        reply = await _apply(store, body)
        assert reply.type == c.GROUP_REJECTED
        reasons = {r["payment_id"]: r["reason"] for r in reply.data["rejections"]}
        assert reasons == {str(payments[0]): "linked_transfer_failed", str(payments[1]): "insufficient_funds"}
        assert (store.wallets[A].balance_minor, store.wallets[A].held_minor) == (1_000, 0)
    assert {store.holds[p].status for p in payments} == {HoldStatus.REJECTED}


async def test_a_held_group_repeated_is_held_once() -> None:
    store = InMemoryWalletStore(list(WALLETS.values()))
    payments, body = _group((A, 700), (B, 500), (A, 300))
    assert [(await _apply(store, body)).type for _ in range(2)] == [c.GROUP_RESERVED] * 2
    assert {w: store.wallets[w].held_minor for w in (A, B, C)} == {A: 1_000, B: 500, C: 0}
    assert {store.holds[p].status for p in payments} == {HoldStatus.HELD}


def test_a_held_group_member_retries_its_entry_instead_of_voiding_it() -> None:
    alone, _ = d.start(uuid.uuid4(), d.PaymentType.TRANSFER, 100, "EUR", source=A, destination=B)
    held, _ = d.on_funds_reserved(alone)
    assert d.on_timeout(held, attempts_max=1)[0].status is d.Status.VOIDING
    grouped, _ = d.on_funds_reserved(replace(alone, group_id=uuid.uuid4()))
    for _ in range(5):
        grouped, commands = d.on_timeout(grouped, attempts_max=1)
        assert grouped.status is d.Status.RESERVED
        assert [type(command) for command in commands] == [d.Post]


def test_a_groups_reserves_go_out_as_one_command_with_a_stable_id() -> None:
    group_id = uuid.uuid4()
    started = [d.start(uuid.uuid4(), d.PaymentType.TRANSFER, n, "EUR", source=A, destination=B) for n in (1, 2, 3)]
    members = [replace(p, group_id=group_id) for p, _ in started]
    alone, alone_commands = d.start(uuid.uuid4(), d.PaymentType.TRANSFER, 9, "EUR", source=B, destination=C)
    sent = [(p, d.outstanding(p), None) for p in members] + [(alone, alone_commands, None)]
    first = group_holds.messages_of(sent, {group_id: members})
    assert [m.type for m in first] == [c.RESERVE_GROUP, c.RESERVE_FUNDS]
    assert sorted(h["amount_minor"] for h in first[0].data["holds"]) == [1, 2, 3]
    again = group_holds.messages_of(list(reversed(sent)), {group_id: list(reversed(members))})
    assert {m.id for m in again if m.type == c.RESERVE_GROUP} == {first[0].id}
    assert [m.data for m in again if m.type == c.RESERVE_GROUP] == [first[0].data]


def test_a_held_member_whose_account_was_closed_is_released_alone() -> None:
    """The one path that splits a held group (docs/design.md, "Atomic batches: linked holds")."""
    start, _ = d.start(uuid.uuid4(), d.PaymentType.TRANSFER, 100, "EUR", source=A, destination=B)
    held, _ = d.on_funds_reserved(replace(start, group_id=uuid.uuid4()))
    compensating, commands = d.on_entry_rejected(held, "account_closed")
    assert (compensating.status, commands) == (d.Status.COMPENSATING, [d.Release(A)])
    assert d.on_funds_released(compensating)[0].status is d.Status.COMPENSATED
