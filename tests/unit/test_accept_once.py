"""A payment request is accepted once per idempotency key: the first commits its payment with the
response every replay answers, another body under the key is refused without touching the
first, and a request that moved no money (refused, or crashed before its commit) frees the key."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ledgerline.core.idempotency import StoredResponse
from ledgerline.core.problems import Problem
from ledgerline.payment import domain as d
from ledgerline.payment.domain import Payment, PaymentType
from ledgerline.payment.service import Accepted, Start, accept_once
from tests.unit.fakes import InMemoryIdempotencyStore, InMemoryIntake

KEY = "key-1"
WALLET_A, WALLET_B = uuid.uuid4(), uuid.uuid4()


def view(payment: Payment) -> dict[str, object]:
    return {"id": str(payment.id), "amount_minor": payment.amount_minor}


class Starts:
    """`start()` of a transfer of `amount_minor`, counting its calls; `refusal` raises instead."""

    def __init__(self, amount_minor: int = 1234, refusal: Exception | None = None) -> None:
        self.amount_minor = amount_minor
        self.refusal = refusal
        self.calls = 0

    async def __call__(self) -> Start:
        self.calls += 1
        if self.refusal is not None:
            raise self.refusal
        return d.start(
            uuid.uuid4(), PaymentType.TRANSFER, self.amount_minor, "EUR", source=WALLET_A, destination=WALLET_B
        )


@pytest.fixture
def store() -> InMemoryIdempotencyStore:
    return InMemoryIdempotencyStore()


@pytest.fixture
def intake(store: InMemoryIdempotencyStore) -> InMemoryIntake:
    return InMemoryIntake(store)


async def accept(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake, start: Starts, fingerprint: str = "body-1"
) -> Accepted:
    return await accept_once(KEY, fingerprint, start, idempotency=store, intake=intake, view=view)


async def test_the_first_request_commits_its_payment_with_the_response_it_answers(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake
) -> None:
    accepted = await accept(store, intake, Starts(1234))
    [committed] = intake.committed
    assert accepted == Accepted(StoredResponse(202, view(committed.payment)), replayed=False)
    assert (committed.payment.amount_minor, committed.commands) == (1234, [d.Reserve(WALLET_A, 1234)])
    assert store.stored[KEY] == ("body-1", accepted.response)
    assert store.in_flight == {}


async def test_a_replay_answers_the_stored_response_and_moves_no_money(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake
) -> None:
    first = await accept(store, intake, Starts(1234))
    again = Starts(1234)
    replayed = await accept(store, intake, again)
    assert replayed == Accepted(first.response, replayed=True)
    assert again.calls == 0 and len(intake.committed) == 1


async def test_the_same_key_with_another_body_is_refused_and_the_first_stands(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake
) -> None:
    first = await accept(store, intake, Starts(1234))
    other = Starts(9999)
    with pytest.raises(Problem) as refused:
        await accept(store, intake, other, fingerprint="body-2")
    assert (refused.value.status, refused.value.code) == (422, "idempotency_key_reused")
    assert other.calls == 0 and [a.payment.amount_minor for a in intake.committed] == [1234]
    assert (await accept(store, intake, Starts(1234))).response == first.response


async def test_another_body_while_the_first_is_in_flight_leaves_its_claim_alone(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake
) -> None:
    store.in_flight[KEY] = "body-1"
    with pytest.raises(Problem) as refused:
        await accept(store, intake, Starts(), fingerprint="body-2")
    assert refused.value.status == 422 and store.in_flight == {KEY: "body-1"}


async def test_a_refusal_releases_the_key_for_a_corrected_request(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake
) -> None:
    with pytest.raises(d.CurrencyMismatch):
        await accept(store, intake, Starts(refusal=d.CurrencyMismatch("destination wallet holds USD")))
    assert store.in_flight == {} and store.stored == {} and intake.committed == []
    accepted = await accept(store, intake, Starts(500))
    assert not accepted.replayed and [a.payment.amount_minor for a in intake.committed] == [500]


@pytest.mark.parametrize("crash", [ConnectionResetError("database went away"), asyncio.CancelledError()])
async def test_a_crash_between_claim_and_commit_releases_the_key(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake, crash: BaseException
) -> None:
    intake.crash = crash
    with pytest.raises(type(crash)):
        await accept(store, intake, Starts(1234))
    assert store.in_flight == {} and store.stored == {} and intake.committed == []
    intake.crash = None
    retried = await accept(store, intake, Starts(1234))
    assert not retried.replayed and [a.payment.amount_minor for a in intake.committed] == [1234]


async def test_a_key_another_request_committed_first_replays_that_response(
    store: InMemoryIdempotencyStore, intake: InMemoryIntake
) -> None:
    # The fast path lost the claim (Redis away): the commit finds the key taken by another.
    earlier = StoredResponse(202, {"id": "first", "amount_minor": 1234})

    class TakenMeanwhile(Starts):
        async def __call__(self) -> Start:
            store.stored[KEY] = ("body-1", earlier)
            return await super().__call__()

    accepted = await accept(store, intake, TakenMeanwhile())
    assert accepted == Accepted(earlier, replayed=True) and intake.committed == []
