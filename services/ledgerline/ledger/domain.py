"""Double-entry bookkeeping: accounts, balanced entries, running balances. No I/O.

An entry's postings sum to zero per currency. Balances change only by postings, and each
posting records the account's balance after it, so a balance "as of" any time is one lookup.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

POSTINGS_PER_ENTRY_MAX = 16


class AccountKind(StrEnum):
    WALLET = "wallet"
    SETTLEMENT = "settlement"
    REWARDS = "rewards"
    # Per currency, the platform's position from cross-currency transfers.
    FX = "fx"


class AccountStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class EntryRejection(StrEnum):
    ACCOUNT_CLOSED = "account_closed"
    CURRENCY_MISMATCH = "currency_mismatch"
    ENTRY_VOIDED = "entry_voided"


class UnbalancedEntry(RuntimeError):
    """Postings that do not sum to zero per currency: never written, never accepted."""


class InvalidEntry(RuntimeError):
    """An entry whose shape is wrong (too few or too many postings, zero amounts)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: uuid.UUID
    kind: AccountKind
    currency: str
    status: AccountStatus = AccountStatus.OPEN
    balance_minor: int = 0
    posting_count: int = 0


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: uuid.UUID
    currency: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class AppliedPosting:
    account_id: uuid.UUID
    currency: str
    amount_minor: int
    balance_after_minor: int
    account_sequence: int


def check_balanced(postings: Sequence[Posting]) -> None:
    if not 2 <= len(postings) <= POSTINGS_PER_ENTRY_MAX:
        raise InvalidEntry(f"an entry has 2..{POSTINGS_PER_ENTRY_MAX} postings, not {len(postings)}")
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        if posting.amount_minor == 0:
            raise InvalidEntry(f"zero posting to account {posting.account_id}")
        totals[posting.currency] += posting.amount_minor
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedEntry(f"postings do not sum to zero: {unbalanced}")


def rejection(postings: Iterable[Posting], accounts: Mapping[uuid.UUID, Account]) -> EntryRejection | None:
    for posting in postings:
        account = accounts[posting.account_id]
        if account.status is AccountStatus.CLOSED:
            return EntryRejection.ACCOUNT_CLOSED
        if account.currency != posting.currency:
            return EntryRejection.CURRENCY_MISMATCH
    return None


def apply_postings(
    postings: Sequence[Posting], accounts: Mapping[uuid.UUID, Account]
) -> tuple[dict[uuid.UUID, Account], list[AppliedPosting]]:
    """New account states and the postings with their running balances."""
    check_balanced(postings)
    current = dict(accounts)
    applied: list[AppliedPosting] = []
    for posting in postings:
        account = current[posting.account_id]
        account = replace(
            account,
            balance_minor=account.balance_minor + posting.amount_minor,
            posting_count=account.posting_count + 1,
        )
        current[posting.account_id] = account
        applied.append(
            AppliedPosting(
                posting.account_id,
                posting.currency,
                posting.amount_minor,
                account.balance_minor,
                account.posting_count,
            )
        )
    return {p.account_id: current[p.account_id] for p in postings}, applied


def close(account: Account) -> Account:
    if account.balance_minor != 0:
        raise ValueError(f"account {account.id} has a balance of {account.balance_minor}; only empty accounts close")
    return replace(account, status=AccountStatus.CLOSED)
