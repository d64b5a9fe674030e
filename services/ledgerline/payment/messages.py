"""Saga commands as Kafka messages. Command ids are derived from the payment and its step, so
a re-sent command carries the same id and the receiver's inbox applies it once."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from prometheus_client import Counter, Histogram

from ledgerline.core import contracts as c
from ledgerline.core.events import OutgoingMessage
from ledgerline.core.telemetry import current_traceparent
from ledgerline.payment import domain as d
from ledgerline.payment.domain import Payment, Status

SOURCE = "/ledgerline/payment"
SAGA_OUTCOMES = Counter(
    "ledgerline_saga_outcomes_total", "Payments that reached a terminal state", ["type", "outcome", "reason"]
)


SAGA_DURATION = Histogram(
    "ledgerline_saga_duration_seconds",
    "From a payment's acceptance to its terminal state",
    ["type", "outcome"],
    # From a transfer on an idle laptop (tens of ms) to a saga that waited out step timeouts.
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
OUTCOMES = tuple(sorted(status.value.lower() for status in d.TERMINAL))
for _type in d.PaymentType:
    for _outcome in OUTCOMES:
        SAGA_DURATION.labels(_type.value, _outcome)  # Series from the start, for every panel.


def count_outcome(payment: Payment, took_s: float) -> None:
    """A payment reached its terminal state `took_s` seconds after it was accepted."""
    outcome = payment.status.value.lower()
    SAGA_OUTCOMES.labels(payment.type.value, outcome, payment.failure_reason or "none").inc()
    SAGA_DURATION.labels(payment.type.value, outcome).observe(max(0.0, took_s))


def command_id(payment: Payment, kind: str) -> str:
    return str(uuid.uuid5(payment.id, f"{payment.status.value}:{kind}"))


def to_messages(payment: Payment, commands: list[d.Command], traceparent: str | None = None) -> list[OutgoingMessage]:
    """The commands as messages, in the trace `traceparent` names (by default, the current one)."""
    trace = traceparent or current_traceparent()
    return [_message(payment, command, trace) for command in commands]


def _message(p: Payment, command: d.Command, trace: str | None) -> OutgoingMessage:
    key = str(p.id)

    def build(type_: str, body: c.Contract, kind: str) -> OutgoingMessage:
        return c.message(type_, body, key=key, source=SOURCE, message_id=command_id(p, kind), traceparent=trace)

    match command:
        case d.Reserve(wallet_id, amount):
            return build(
                c.RESERVE_FUNDS,
                c.ReserveFunds(payment_id=p.id, wallet_id=wallet_id, amount_minor=amount, currency=p.currency),
                "reserve",
            )
        case d.Release(wallet_id):
            return build(c.RELEASE_FUNDS, c.ReleaseFunds(payment_id=p.id, wallet_id=wallet_id), "release")
        case d.Post(lines, description):
            postings = tuple(_posting(p, line) for line in lines)
            entry = c.PostEntry(entry_id=p.id, payment_id=p.id, description=description, postings=postings)
            return build(c.POST_ENTRY, entry, "post")
        case d.Void():
            return build(c.VOID_ENTRY, c.VoidEntry(entry_id=p.id, payment_id=p.id), "void")
        case d.Settle(debit, credits):
            settle = c.SettleFunds(
                payment_id=p.id,
                currency=p.currency,
                debit_wallet_id=debit,
                credits=tuple(c.Credit(wallet_id=w, amount_minor=a) for w, a in credits),
            )
            return build(c.SETTLE_FUNDS, settle, "settle")
        case d.BankCall(operation):
            bank = c.BankOperation(payment_id=p.id, operation=operation)
            return build(c.BANK_OPERATION, bank, f"bank:{operation}")
        case d.Announce():
            return _announcement(p, trace)
    raise d.SagaError(f"no message for {command!r}")


# The platform's own accounts a posting line may name, each with its id per currency.
_PLATFORM_ACCOUNTS: dict[str, tuple[Callable[[str], uuid.UUID], c.AccountKindName]] = {
    d.SETTLEMENT: (c.settlement_account_id, "settlement"),
    d.REWARDS: (c.rewards_account_id, "rewards"),
    d.FX: (c.fx_account_id, "fx"),
}


def _posting(p: Payment, line: d.Line) -> c.PostingLine:
    currency = line.currency or p.currency
    if isinstance(line.account, str) and line.account in _PLATFORM_ACCOUNTS:
        account_id, kind = _PLATFORM_ACCOUNTS[line.account]
        return c.PostingLine(
            account_id=account_id(currency), account_kind=kind, currency=currency, amount_minor=line.amount_minor
        )
    if not isinstance(line.account, uuid.UUID):
        raise d.SagaError(f"posting line names no platform account and no wallet: {line.account!r}")
    return c.PostingLine(
        account_id=line.account, account_kind="wallet", currency=currency, amount_minor=line.amount_minor
    )


def _announcement(p: Payment, trace: str | None) -> OutgoingMessage:
    completed = p.status is Status.COMPLETED
    body = c.PaymentOutcome(
        payment_id=p.id,
        payment_type=p.type.value,
        status=p.status.value,
        amount_minor=p.amount_minor,
        currency=p.currency,
        source_wallet_id=p.source_wallet_id,
        destination_wallet_id=p.destination_wallet_id,
        reason=p.failure_reason,
        original_payment_id=p.original_payment_id,
    )
    type_ = c.PAYMENT_COMPLETED if completed else c.PAYMENT_FAILED
    return c.message(
        type_,
        body,
        key=str(p.id),
        source=SOURCE,
        message_id=str(uuid.uuid5(p.id, f"outcome:{p.status.value}")),
        traceparent=trace,
    )
