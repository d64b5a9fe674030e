"""The wallet's command handlers, on an in-memory store: holds, releases and settles move exactly
the money they name, once, however often a command arrives, and a stale wallet fails the batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from ledgerline.core import contracts as c
from ledgerline.core.db import ConcurrentUpdate
from ledgerline.core.events import Envelope, OutgoingMessage
from ledgerline.wallet.domain import HoldStatus, Wallet
from ledgerline.wallet.handlers import apply_command_batch
from tests.unit.fakes import InMemoryWalletStore, consumed, replies

A, B = uuid.uuid4(), uuid.uuid4()


def store(a_minor: int = 1_000, b_minor: int = 0) -> InMemoryWalletStore:
    return InMemoryWalletStore([Wallet(A, "alice", "EUR", a_minor), Wallet(B, "bob", "EUR", b_minor)])


async def apply(wallets: InMemoryWalletStore, *envelopes: Envelope) -> list[OutgoingMessage]:
    published: list[OutgoingMessage] = []
    await apply_command_batch(envelopes, wallets, published.append)
    return published


def reserve(payment: uuid.UUID, amount_minor: int, wallet: uuid.UUID = A) -> Envelope:
    body = c.ReserveFunds(payment_id=payment, wallet_id=wallet, amount_minor=amount_minor, currency="EUR")
    return consumed(c.RESERVE_FUNDS, body)


def settle(payment: uuid.UUID, amount_minor: int) -> Envelope:
    credits = (c.Credit(wallet_id=B, amount_minor=amount_minor),)
    body = c.SettleFunds(payment_id=payment, currency="EUR", debit_wallet_id=A, credits=credits)
    return consumed(c.SETTLE_FUNDS, body)


def release(payment: uuid.UUID) -> Envelope:
    return consumed(c.RELEASE_FUNDS, c.ReleaseFunds(payment_id=payment, wallet_id=A))


def money(wallets: InMemoryWalletStore) -> dict[uuid.UUID, tuple[int, int]]:
    """(balance, held) of each wallet, in minor units."""
    return {w.id: (w.balance_minor, w.held_minor) for w in wallets.wallets.values()}


def types(published: Sequence[OutgoingMessage]) -> list[str]:
    return [message.type for message in published]


async def test_a_transfer_is_held_then_settled_and_the_money_only_moves() -> None:
    wallets, payment = store(), uuid.uuid4()
    assert types(await apply(wallets, reserve(payment, 300))) == [c.FUNDS_RESERVED]
    assert money(wallets) == {A: (1_000, 300), B: (0, 0)}
    assert types(await apply(wallets, settle(payment, 300))) == [c.FUNDS_SETTLED]
    assert money(wallets) == {A: (700, 0), B: (300, 0)}
    assert sum(balance for balance, _ in money(wallets).values()) == 1_000
    assert wallets.holds[payment].status is HoldStatus.SETTLED


async def test_two_reserves_in_one_batch_cannot_spend_the_same_money() -> None:
    wallets, first, second = store(a_minor=500), uuid.uuid4(), uuid.uuid4()
    published = await apply(wallets, reserve(first, 300), reserve(second, 300))
    assert replies(published) == [
        (c.FUNDS_RESERVED, {"payment_id": str(first), "wallet_id": str(A)}),
        (c.FUNDS_REJECTED, {"payment_id": str(second), "wallet_id": str(A), "reason": "insufficient_funds"}),
    ]
    assert money(wallets)[A] == (500, 300)
    # Both commands changed the wallet once in memory; it is written as one version step.
    assert wallets.wallets[A].version == 1


async def test_a_refused_reserve_is_refused_again_after_the_wallet_is_funded() -> None:
    wallets, payment = store(a_minor=100), uuid.uuid4()
    assert types(await apply(wallets, reserve(payment, 300))) == [c.FUNDS_REJECTED]
    wallets.wallets[A] = Wallet(A, "alice", "EUR", 10_000, version=wallets.wallets[A].version)
    again = await apply(wallets, reserve(payment, 300))
    assert replies(again)[0][1]["reason"] == "insufficient_funds"
    assert money(wallets)[A] == (10_000, 0)


async def test_a_command_sent_twice_moves_the_money_once() -> None:
    wallets, payment = store(), uuid.uuid4()
    await apply(wallets, reserve(payment, 300), reserve(payment, 300))
    assert money(wallets)[A] == (1_000, 300)
    first = await apply(wallets, settle(payment, 300))
    second = await apply(wallets, settle(payment, 300))
    assert types(first) == types(second) == [c.FUNDS_SETTLED]
    assert money(wallets) == {A: (700, 0), B: (300, 0)}


async def test_a_release_gives_the_held_money_back_and_refuses_a_late_reserve() -> None:
    wallets, held, never = store(), uuid.uuid4(), uuid.uuid4()
    await apply(wallets, reserve(held, 400))
    assert types(await apply(wallets, release(held))) == [c.FUNDS_RELEASED]
    assert money(wallets)[A] == (1_000, 0)
    # Released before its reserve arrived: the reserve, when it comes, holds nothing.
    await apply(wallets, release(never))
    late = await apply(wallets, reserve(never, 400))
    assert replies(late)[0] == (
        c.FUNDS_REJECTED,
        {"payment_id": str(never), "wallet_id": str(A), "reason": "hold_released"},
    )
    assert money(wallets)[A] == (1_000, 0)


async def test_a_wallet_changed_behind_the_batch_fails_it_whole() -> None:
    wallets, payment = store(), uuid.uuid4()

    class Interleaved(InMemoryWalletStore):
        """Another writer changes wallet A between the batch's read and its write."""

        async def save_wallets(self, changed: Sequence[Wallet]) -> None:
            self.wallets[A] = Wallet(A, "alice", "EUR", 900, version=self.wallets[A].version + 1)
            await super().save_wallets(changed)

    racing = Interleaved(wallets.wallets.values())
    with pytest.raises(ConcurrentUpdate):
        await apply(racing, reserve(payment, 300))
    assert money(racing)[A] == (900, 0) and payment not in racing.holds
