"""An atomic transfer batch: every transfer is accepted, or none is; then all move money, or none.

At acceptance every transfer is checked; one refused (its shape, a wallet, a currency, an id
reused with another body, ...) refuses the batch with 422 `batch_refused` naming each failing
transfer, and no payment is written and no id stays claimed. Accepted, the payments commit in
one transaction sharing a group id, and their holds travel as one wallet command
(`group_holds`) that takes them all or none. The same batch sent again replays its results.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ledgerline.core import contracts as c
from ledgerline.core.idempotency import IdempotencyStore, StoredResponse
from ledgerline.core.problems import Problem
from ledgerline.payment import domain as d
from ledgerline.payment.api_problems import ACCEPTED_ELSEWHERE, BATCH_IN_FLIGHT, BATCH_REFUSED
from ledgerline.payment.batches import TRANSFER_BATCH_MAX, BatchItem, View, item_answer, item_problem, keys_of
from ledgerline.payment.domain import Payment
from ledgerline.payment.intake import Acceptance, PaymentIntake

Claim = tuple[int, str, str]
if TRANSFER_BATCH_MAX > c.GROUP_HOLDS_MAX:
    raise RuntimeError("an atomic batch's holds travel as one wallet command, which holds fewer")


def refused(items: Sequence[BatchItem], problems: dict[int, dict[str, Any]]) -> Problem:
    failing = [problems[index] for index in sorted(problems)]
    ids = ", ".join(item["id"] for item in failing[:5]) + (", ..." if len(failing) > 5 else "")
    detail = f"{len(failing)} of {len(items)} transfers cannot be accepted ({ids}); none was"
    return BATCH_REFUSED.problem(detail, transfers=failing)


async def accept_atomic_batch(
    items: Sequence[BatchItem], *, store: IdempotencyStore, intake: PaymentIntake, view: View
) -> list[dict[str, Any]]:
    """One result per item, in order, every one accepted (or every one replayed); else a problem."""
    claims, problems = keys_of(items)
    if problems:
        raise refused(items, problems)
    outcomes = await store.begin_many([(key, fp) for _, key, fp in claims])
    fresh = [claim for claim, outcome in zip(claims, outcomes, strict=True) if outcome is None]
    replays = [(claim, o) for claim, o in zip(claims, outcomes, strict=True) if isinstance(o, StoredResponse)]
    if len(replays) == len(claims):
        return [item_answer(key, response, replayed=True) for (_, key, _), response in replays]
    for (index, key, _), outcome in zip(claims, outcomes, strict=True):
        if isinstance(outcome, Problem):
            problems[index] = item_problem(key, outcome)
        elif outcome is not None:
            problems[index] = item_problem(key, ACCEPTED_ELSEWHERE.problem())
    try:
        if problems:
            raise refused(items, problems)
        return await _accept_fresh(items, fresh, store=store, intake=intake, view=view)
    except BaseException:
        await store.abandon_many([(key, fp) for _, key, fp in fresh])
        raise


async def _accept_fresh(
    items: Sequence[BatchItem], claims: Sequence[Claim], *, store: IdempotencyStore, intake: PaymentIntake, view: View
) -> list[dict[str, Any]]:
    built = await asyncio.gather(*(items[index].build() for index, _, _ in claims), return_exceptions=True)
    problems: dict[int, dict[str, Any]] = {}
    starts: list[tuple[Payment, list[d.Command]]] = []
    for (index, key, _), start in zip(claims, built, strict=True):
        if isinstance(start, Problem):
            problems[index] = item_problem(key, start)
        elif isinstance(start, BaseException):
            raise start
        else:
            starts.append(start)
    if problems:
        raise refused(items, problems)
    group_id = uuid.uuid4()
    acceptances: list[Acceptance] = []
    for (_, key, fp), (started, commands) in zip(claims, starts, strict=True):
        payment = replace(started, group_id=group_id)
        acceptances.append(Acceptance(key, fp, StoredResponse(202, view(payment)), payment, commands))
    if await intake.accept_all(acceptances):
        return [item_answer(a.key, a.response, replayed=False) for a in acceptances]
    return await _replayed_or_in_flight(acceptances, store)


async def _replayed_or_in_flight(acceptances: Sequence[Acceptance], store: IdempotencyStore) -> list[dict[str, Any]]:
    """Another request took an id first (the fast path was unavailable): the same batch, whose
    results are then replayed, or one still in flight."""
    stored = [await store.lookup(a.key, a.fingerprint) for a in acceptances]
    if any(response is None for response in stored):
        raise BATCH_IN_FLIGHT.problem()
    return [item_answer(a.key, r, replayed=True) for a, r in zip(acceptances, stored, strict=True) if r is not None]
