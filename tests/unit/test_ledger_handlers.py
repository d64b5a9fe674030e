"""The ledger's command handlers, on an in-memory store: an entry posts once and balances to zero,
a voided entry never posts, a refused entry moves nothing, and an unbalanced one is never written."""

from __future__ import annotations

import uuid

import pytest

from ledgerline.core import contracts as c
from ledgerline.core.events import Envelope, OutgoingMessage
from ledgerline.ledger.domain import Account, AccountKind, AccountStatus, UnbalancedEntry
from ledgerline.ledger.handlers import apply_command_batch, open_wallet_accounts
from tests.unit.fakes import InMemoryLedgerStore, consumed, replies

WALLET = uuid.uuid4()
SETTLEMENT = c.settlement_account_id("EUR")


async def apply(ledger: InMemoryLedgerStore, *envelopes: Envelope) -> list[OutgoingMessage]:
    published: list[OutgoingMessage] = []
    await apply_command_batch(envelopes, ledger, published.append)
    return published


def deposit(entry: uuid.UUID, amount_minor: int, *, settlement_minor: int | None = None) -> Envelope:
    """The entry of a deposit: the settlement account pays the wallet."""
    lines = (
        c.PostingLine(
            account_id=SETTLEMENT,
            account_kind="settlement",
            currency="EUR",
            amount_minor=-(amount_minor if settlement_minor is None else settlement_minor),
        ),
        c.PostingLine(account_id=WALLET, account_kind="wallet", currency="EUR", amount_minor=amount_minor),
    )
    body = c.PostEntry(entry_id=entry, payment_id=entry, description="deposit", postings=lines)
    return consumed(c.POST_ENTRY, body)


def void(entry: uuid.UUID) -> Envelope:
    return consumed(c.VOID_ENTRY, c.VoidEntry(entry_id=entry, payment_id=entry))


def balances(ledger: InMemoryLedgerStore) -> dict[uuid.UUID, int]:
    return {account.id: account.balance_minor for account in ledger.accounts.values()}


async def test_an_entry_opens_its_accounts_posts_once_and_sums_to_zero() -> None:
    ledger, entry = InMemoryLedgerStore(), uuid.uuid4()
    published = await apply(ledger, deposit(entry, 2_500), deposit(entry, 2_500))
    assert replies(published) == [(c.ENTRY_POSTED, {"entry_id": str(entry), "payment_id": str(entry)})] * 2
    assert balances(ledger) == {SETTLEMENT: -2_500, WALLET: 2_500}
    assert sum(balances(ledger).values()) == 0
    postings = ledger.entries[entry].applied
    assert [(p.account_id, p.amount_minor, p.balance_after_minor) for p in postings] == [
        (SETTLEMENT, -2_500, -2_500),
        (WALLET, 2_500, 2_500),
    ]
    assert (await apply(ledger, deposit(entry, 2_500)))[0].type == c.ENTRY_POSTED
    assert balances(ledger) == {SETTLEMENT: -2_500, WALLET: 2_500}


async def test_a_voided_entry_is_never_posted_and_a_posted_one_is_never_voided() -> None:
    ledger, voided, posted = InMemoryLedgerStore(), uuid.uuid4(), uuid.uuid4()
    assert [m.type for m in await apply(ledger, void(voided), deposit(voided, 100))] == [
        c.ENTRY_VOIDED,
        c.ENTRY_REJECTED,
    ]
    assert voided not in ledger.entries and sum(balances(ledger).values()) == 0
    assert all(balance == 0 for balance in balances(ledger).values())
    # "Already posted" is the answer to a void that comes too late.
    assert [m.type for m in await apply(ledger, deposit(posted, 100), void(posted))] == [
        c.ENTRY_POSTED,
        c.ENTRY_POSTED,
    ]
    assert posted not in ledger.voided and balances(ledger)[WALLET] == 100


async def test_a_closed_account_refuses_the_entry_and_nothing_moves() -> None:
    closed = Account(WALLET, AccountKind.WALLET, "EUR", status=AccountStatus.CLOSED)
    ledger, entry = InMemoryLedgerStore([closed]), uuid.uuid4()
    published = await apply(ledger, deposit(entry, 100))
    assert replies(published) == [
        (c.ENTRY_REJECTED, {"entry_id": str(entry), "payment_id": str(entry), "reason": "account_closed"})
    ]
    assert entry not in ledger.entries and all(balance == 0 for balance in balances(ledger).values())


async def test_an_unbalanced_entry_fails_the_batch_before_anything_is_written() -> None:
    ledger = InMemoryLedgerStore()
    with pytest.raises(UnbalancedEntry):
        await apply(ledger, deposit(uuid.uuid4(), 100, settlement_minor=90))
    assert ledger.entries == {} and all(balance == 0 for balance in balances(ledger).values())


async def test_an_opened_wallet_gets_an_empty_account_once() -> None:
    ledger = InMemoryLedgerStore()
    opened = consumed(c.WALLET_OPENED, c.WalletOpened(wallet_id=WALLET, owner_id="alice", currency="EUR"))
    await open_wallet_accounts([opened, opened], ledger)
    assert ledger.accounts == {WALLET: Account(WALLET, AccountKind.WALLET, "EUR")}
