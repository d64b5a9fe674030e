"""The saga state table in docs/design.md is the payment domain's state machine: every state a
payment can reach, the command it waits on there (`domain.outstanding`), and where it can go next."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from itertools import dropwhile, takewhile
from pathlib import Path

from ledgerline.payment import domain as d
from ledgerline.payment.domain import Payment, PaymentType, Status

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"
TABLE_HEADING = "### Saga states"
NOTHING = "—"
SOURCE, DESTINATION = uuid.UUID(int=1), uuid.UUID(int=2)


Reply = Callable[[], tuple[Payment, list[d.Command]]]


def _replies(p: Payment) -> Iterator[Reply]:
    """The answers the commands a payment waits on can get, and its step timer running out."""
    for command in d.outstanding(p):
        match command:
            case d.Reserve():
                yield lambda: d.on_funds_reserved(p)
                yield lambda: d.on_funds_rejected(p, "insufficient_funds")
            case d.Release():
                yield lambda: d.on_funds_released(p)
            case d.Settle():
                yield lambda: d.on_funds_settled(p)
            case d.Post():
                yield lambda: d.on_entry_posted(p)
                yield lambda: d.on_entry_rejected(p, "account_closed")
            case d.Void():
                # "Already posted" answers a void; the entry's first post may also answer late.
                yield lambda: d.on_entry_voided(p)
                yield lambda: d.on_entry_posted(p)
                yield lambda: d.on_entry_rejected(p, "account_closed")
            case d.BankCall(operation):
                yield lambda: d.on_bank_result(p, operation, True, "")
                yield lambda: d.on_bank_result(p, operation, False, "declined")
                yield lambda: d.on_bank_unreachable(p, operation, attempts_max=1)
    yield lambda: d.on_timeout(p, attempts_max=1)


def _explore(type_: PaymentType) -> dict[Status, tuple[Payment, set[Status]]]:
    """Each state reachable from `start`, with one payment in it and the states it moves on to."""
    wallets = {
        PaymentType.DEPOSIT: {"destination": DESTINATION},
        PaymentType.WITHDRAWAL: {"source": SOURCE},
        PaymentType.REWARD: {"destination": DESTINATION},
        PaymentType.REWARD_CLAWBACK: {"source": SOURCE},
    }.get(type_, {"source": SOURCE, "destination": DESTINATION})
    first, _ = d.start(uuid.uuid4(), type_, 500, "EUR", **wallets)
    found: dict[Status, tuple[Payment, set[Status]]] = {}
    waiting = [first]
    while waiting:
        p = waiting.pop()
        if p.status in found:
            continue
        successors: set[Status] = set()
        for reply in _replies(p):
            try:
                after, _ = reply()
            except d.SagaError:
                continue  # A reply that cannot happen in this state: the domain refuses it loudly.
            if after.status is not p.status:
                successors.add(after.status)
                waiting.append(after)
        found[p.status] = (p, successors)
    return found


def _account(p: Payment, account: uuid.UUID | str | None) -> str:
    names = {p.source_wallet_id: "source", p.destination_wallet_id: "destination"}
    return {**names, d.SETTLEMENT: "settlement", d.REWARDS: "rewards"}[account]


def _command(p: Payment, command: d.Command) -> str:
    match command:
        case d.Reserve(wallet_id, _):
            return f"ReserveFunds({_account(p, wallet_id)})"
        case d.Release(wallet_id):
            return f"ReleaseFunds({_account(p, wallet_id)})"
        case d.Post(lines, _):
            legs = ", ".join(f"{_account(p, line.account)}{'-' if line.amount_minor < 0 else '+'}" for line in lines)
            return f"PostEntry({legs})"
        case d.Void():
            return "VoidEntry"
        case d.Settle(debit, credits):
            legs = ([f"{_account(p, debit)}-"] if debit else []) + [f"{_account(p, w)}+" for w, _ in credits]
            return f"SettleFunds({', '.join(legs)})"
        case d.BankCall(operation):
            return f"BankOperation({operation})"
    raise AssertionError(f"no name for {command!r}")


def _cell(p: Payment, successors: set[Status]) -> str:
    commands = " + ".join(_command(p, c) for c in d.outstanding(p)) or NOTHING
    following = ", ".join(s.value for s in Status if s in successors)
    return f"{commands} → {following}" if following else commands


def machine_table() -> dict[tuple[Status, PaymentType], str]:
    return {
        (status, type_): _cell(p, successors)
        for type_ in PaymentType
        for status, (p, successors) in _explore(type_).items()
        if not p.terminal
    }


def _from_first_row(section: str) -> Iterator[str]:
    return dropwhile(lambda line: not line.startswith("|"), section.splitlines())


def documented_table() -> dict[tuple[Status, PaymentType], str]:
    text = DESIGN.read_text()
    assert TABLE_HEADING in text, f"{DESIGN} has no {TABLE_HEADING!r} section"
    rows = list(takewhile(lambda line: line.startswith("|"), _from_first_row(text.split(TABLE_HEADING, 1)[1])))
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    columns = [[PaymentType(name) for name in cell.split(", ")] for cell in header[1:]]
    table: dict[tuple[Status, PaymentType], str] = {}
    for row in rows[2:]:
        cells = [cell.strip().replace("`", "") for cell in row.strip("|").split("|")]
        status = Status(cells[0])
        for types, cell in zip(columns, cells[1:], strict=True):
            if cell != NOTHING:
                table.update({(status, type_): cell for type_ in types})
    return table


def test_the_design_table_is_the_state_machine() -> None:
    documented, machine = documented_table(), machine_table()
    # Cell by cell: (as documented, as the domain behaves); "None" where one side has no cell.
    differing = {
        f"{status.value} / {type_.value}": (documented.get((status, type_)), machine.get((status, type_)))
        for status, type_ in documented.keys() | machine.keys()
        if documented.get((status, type_)) != machine.get((status, type_))
    }
    assert differing == {}


def test_every_payment_type_and_waiting_state_is_documented() -> None:
    documented = documented_table()
    assert {type_ for _, type_ in documented} == set(PaymentType)
    assert {status for status, _ in documented} == set(Status) - d.TERMINAL
