"""Many transfers in one request: each is checked, accepted and run on its own, together.

Every transfer carries its own id, which is its idempotency key (the same key sent alone to
`POST /v1/transfers` with the same body is the same transfer). The keys are claimed in one
Redis round trip, the wallets checked concurrently, and the accepted payments committed through
the intake's group commit, so a thousand transfers cost a few transactions, not a thousand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledgerline.core.idempotency import IdempotencyStore, StoredResponse, fingerprint, validate_key
from ledgerline.core.problems import Problem
from ledgerline.payment import domain as d
from ledgerline.payment.domain import Payment
from ledgerline.payment.intake import Acceptance, PaymentIntake

TRANSFER_BATCH_MAX = 1000
TRANSFER_PATH = "/v1/transfers"

Build = Callable[[], Awaitable[tuple[Payment, list[d.Command]]]]
View = Callable[[Payment], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class BatchItem:
    id: str
    body: dict[str, Any]  # The transfer as `POST /v1/transfers` would take it.
    build: Build


def keys_of(items: Sequence[BatchItem]) -> tuple[list[tuple[int, str, str]], dict[int, dict[str, Any]]]:
    """(position, key, fingerprint) of each item with a valid id, and the problem of each other."""
    claims: list[tuple[int, str, str]] = []
    refused: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(items):
        try:
            claims.append((index, validate_key(item.id), fingerprint("POST", TRANSFER_PATH, item.body)))
        except Problem as problem:
            refused[index] = item_problem(item.id, problem)
    if len({key for _, key, _ in claims}) != len(claims):
        raise Problem(422, "duplicate_transfer_id", "Two transfers share an id", "every transfer needs its own id")
    return claims, refused


def item_problem(item_id: str, problem: Problem) -> dict[str, Any]:
    return {"id": item_id, "status": problem.status, "problem": problem.body()}


def item_answer(item_id: str, response: StoredResponse, *, replayed: bool) -> dict[str, Any]:
    return {"id": item_id, "status": response.status_code, "payment": response.body, "replayed": replayed}


async def accept_transfer_batch(
    items: Sequence[BatchItem], *, store: IdempotencyStore, intake: PaymentIntake, view: View
) -> list[dict[str, Any]]:
    """One result per item, in order: the accepted payment, a replay, or the item's problem."""
    results: list[dict[str, Any] | None] = [None] * len(items)
    claims, refused_keys = keys_of(items)
    for index, problem in refused_keys.items():
        results[index] = problem
    outcomes = await store.begin_many([(key, fp) for _, key, fp in claims])
    fresh: list[tuple[int, str, str]] = []
    for (index, key, fp), outcome in zip(claims, outcomes, strict=True):
        if isinstance(outcome, Problem):
            results[index] = item_problem(key, outcome)
        elif outcome is not None:
            results[index] = item_answer(key, outcome, replayed=True)
        else:
            fresh.append((index, key, fp))
    built = await asyncio.gather(*(items[index].build() for index, _, _ in fresh), return_exceptions=True)
    ready: list[tuple[int, Acceptance]] = []
    refused: list[tuple[str, str]] = []
    for (index, key, fp), start in zip(fresh, built, strict=True):
        if isinstance(start, Problem):
            results[index] = item_problem(key, start)
            refused.append((key, fp))
        elif isinstance(start, BaseException):
            await store.abandon_many([(k, f) for _, k, f in fresh])
            raise start
        else:
            payment, commands = start
            ready.append((index, Acceptance(key, fp, StoredResponse(202, view(payment)), payment, commands)))
    await store.abandon_many(refused)
    try:
        accepted = await intake.accept_many([acceptance for _, acceptance in ready])
    except BaseException:
        await store.abandon_many([(a.key, a.fingerprint) for _, a in ready])
        raise
    for (index, acceptance), ok in zip(ready, accepted, strict=True):
        if ok:
            results[index] = item_answer(acceptance.key, acceptance.response, replayed=False)
            continue
        stored = await store.lookup(acceptance.key, acceptance.fingerprint)
        results[index] = (
            item_answer(acceptance.key, stored, replayed=True)
            if stored
            else item_problem(acceptance.key, Problem(409, "idempotency_key_in_flight", "Transfer in flight"))
        )
    if any(result is None for result in results):
        raise RuntimeError("a transfer of the batch got no result")
    return [result for result in results if result is not None]
