"""The invariants as pure functions: rows in, findings out. No I/O.

Each function sees one page (or one aggregate) of what the adapter read, so the checker's
memory stays bounded however many wallets and payments there are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ledgerline.core.money import format_amount

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "COMPENSATED"})
# Payments whose failure means no money moved: their journal entry must not exist.
UNMOVED_STATUSES = frozenset({"FAILED", "COMPENSATED"})
LIVE_HOLD = "held"
# Payments that bring money into wallets from outside them (the bank, the rewards account) and
# that take it out again: wallets hold exactly what came in minus what went out.
MONEY_IN = ("deposit", "reward")
MONEY_OUT = ("withdrawal", "reward_clawback")


class Check:
    """The names of the checks, as printed and as keys of the JSON report."""

    LEDGER_BALANCED = "ledger_balanced"
    POSTINGS_CONSISTENT = "postings_consistent"
    WALLETS_RECONCILED = "wallets_reconciled"
    HELD_WITHIN_BALANCE = "held_within_balance"
    HOLDS_LIVE = "holds_have_live_payment"
    MONEY_SUPPLY = "money_supply"
    ENTRY_ONCE = "entry_once_per_payment"
    PAYMENTS_SETTLED = "payments_settled"


DESCRIPTIONS = {
    Check.LEDGER_BALANCED: "the ledger sums to zero per currency",
    Check.POSTINGS_CONSISTENT: "every entry balances; account balances re-add from their postings",
    Check.WALLETS_RECONCILED: "every wallet balance equals its ledger account",
    Check.HELD_WITHIN_BALANCE: "held is never negative, never above balance, and equals the wallet's live holds",
    Check.HOLDS_LIVE: "no live hold without a payment still in flight",
    Check.MONEY_SUPPLY: (
        "wallet money equals completed deposits and rewards minus withdrawals and clawbacks, per currency"
        " (a cross-currency transfer counts out of one currency and into the other)"
    ),
    Check.ENTRY_ONCE: "one journal entry per completed payment, none for a failed one, never two",
    Check.PAYMENTS_SETTLED: "no payment left in flight past the bound",
}


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    subject: str  # What is wrong: a wallet id, a payment id, a currency.
    detail: str


@dataclass(frozen=True, slots=True)
class WalletRow:
    id: uuid.UUID
    currency: str
    balance_minor: int
    held_minor: int
    overdraft_limit_minor: int = 0


@dataclass(frozen=True, slots=True)
class HoldRow:
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: int


@dataclass(frozen=True, slots=True)
class PaymentRow:
    id: uuid.UUID
    type: str
    status: str
    created_at: datetime


@dataclass
class Tally:
    """Findings of one check, counted in full but kept only up to `kept_max`."""

    check: str
    kept_max: int
    checked: int = 0
    found: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, findings: Iterable[Finding], checked: int = 0) -> None:
        self.checked += checked
        for finding in findings:
            self.found += 1
            if len(self.findings) < self.kept_max:
                self.findings.append(finding)

    @property
    def ok(self) -> bool:
        return self.found == 0


def _amount(minor: int, currency: str) -> str:
    return format_amount(minor, currency)


def ledger_balanced(totals: Mapping[str, int]) -> list[Finding]:
    return [
        Finding(Check.LEDGER_BALANCED, currency, f"accounts sum to {_amount(total, currency)}, not 0")
        for currency, total in sorted(totals.items())
        if total != 0
    ]


def postings_consistent(
    unbalanced_entries: Sequence[uuid.UUID], drifted_accounts: Sequence[uuid.UUID]
) -> list[Finding]:
    return [
        Finding(Check.POSTINGS_CONSISTENT, str(entry), "postings of this entry do not sum to zero")
        for entry in unbalanced_entries
    ] + [
        Finding(Check.POSTINGS_CONSISTENT, str(account), "account balance differs from the sum of its postings")
        for account in drifted_accounts
    ]


def wallets_reconciled(wallets: Sequence[WalletRow], ledger_minor: Mapping[uuid.UUID, int]) -> list[Finding]:
    """A wallet the ledger has never posted to has a ledger balance of zero."""
    return [
        Finding(
            Check.WALLETS_RECONCILED,
            str(w.id),
            f"wallet balance {_amount(w.balance_minor, w.currency)} {w.currency}, "
            f"ledger {_amount(ledger_minor.get(w.id, 0), w.currency)}",
        )
        for w in wallets
        if w.balance_minor != ledger_minor.get(w.id, 0)
    ]


def ledger_accounts_without_wallet(
    balances: Mapping[uuid.UUID, tuple[str, int]], known: set[uuid.UUID]
) -> list[Finding]:
    return [
        Finding(Check.WALLETS_RECONCILED, str(account), f"ledger holds {_amount(minor, cur)} {cur} for no wallet")
        for account, (cur, minor) in balances.items()
        if account not in known and minor != 0
    ]


def held_within_balance(wallets: Sequence[WalletRow], live_holds_minor: Mapping[uuid.UUID, int]) -> list[Finding]:
    """Held money is a sum of live holds and never more than the wallet has.

    A wallet with an explicit overdraft limit may hold up to its balance plus that limit.
    """
    findings = []
    for w in wallets:
        holds = live_holds_minor.get(w.id, 0)
        if w.held_minor < 0 or w.held_minor > w.balance_minor + w.overdraft_limit_minor:
            detail = f"held {_amount(w.held_minor, w.currency)} of balance {_amount(w.balance_minor, w.currency)}"
            findings.append(Finding(Check.HELD_WITHIN_BALANCE, str(w.id), detail))
        elif w.held_minor != holds:
            detail = f"held {_amount(w.held_minor, w.currency)}, live holds {_amount(holds, w.currency)}"
            findings.append(Finding(Check.HELD_WITHIN_BALANCE, str(w.id), detail))
    return findings


def holds_live(holds: Sequence[HoldRow], payment_status: Mapping[uuid.UUID, str]) -> list[Finding]:
    findings = []
    for hold in holds:
        status = payment_status.get(hold.payment_id)
        if status is None or status in TERMINAL_STATUSES:
            what = "no such payment" if status is None else f"payment is {status}"
            findings.append(Finding(Check.HOLDS_LIVE, str(hold.payment_id), f"hold on wallet {hold.wallet_id}: {what}"))
    return findings


def money_supply(
    wallet_minor: Mapping[str, int], deposited_minor: Mapping[str, int], withdrawn_minor: Mapping[str, int]
) -> list[Finding]:
    findings = []
    for currency in sorted(set(wallet_minor) | set(deposited_minor) | set(withdrawn_minor)):
        expected = deposited_minor.get(currency, 0) - withdrawn_minor.get(currency, 0)
        actual = wallet_minor.get(currency, 0)
        if actual != expected:
            detail = (
                f"wallets hold {_amount(actual, currency)}, completed deposits and rewards minus "
                f"withdrawals and clawbacks {_amount(expected, currency)}"
            )
            findings.append(Finding(Check.MONEY_SUPPLY, currency, detail))
    return findings


def entry_once(payments: Sequence[PaymentRow], entries: Mapping[uuid.UUID, int]) -> list[Finding]:
    """`entries` counts journal entries per payment id, for the payments of this page."""
    findings = []
    for p in payments:
        count = entries.get(p.id, 0)
        if count > 1:
            findings.append(Finding(Check.ENTRY_ONCE, str(p.id), f"{count} journal entries for one {p.type}"))
        elif count and p.status in UNMOVED_STATUSES:
            findings.append(Finding(Check.ENTRY_ONCE, str(p.id), f"{p.type} is {p.status} but has a journal entry"))
        elif not count and p.status == "COMPLETED":
            findings.append(Finding(Check.ENTRY_ONCE, str(p.id), f"{p.type} is COMPLETED without a journal entry"))
    return findings


def entries_without_payment(entry_payments: Sequence[uuid.UUID], known: set[uuid.UUID]) -> list[Finding]:
    return [
        Finding(Check.ENTRY_ONCE, str(payment_id), "journal entry for a payment the payment service does not know")
        for payment_id in entry_payments
        if payment_id not in known
    ]


def payments_settled(payments: Sequence[PaymentRow], now: datetime, bound: timedelta) -> list[Finding]:
    return [
        Finding(Check.PAYMENTS_SETTLED, str(p.id), f"{p.type} still {p.status} after {now - p.created_at}")
        for p in payments
        if p.status not in TERMINAL_STATUSES and now - p.created_at > bound
    ]
