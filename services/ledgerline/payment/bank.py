"""The bank, reached over HTTP through a circuit breaker, and the saga's bank steps.

A bank step runs outside any database transaction (no row locks held during a slow call);
the bank deduplicates by payment id, so a step re-run after a crash gets the same answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from prometheus_client import Counter
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from ledgerline.core import contracts as c
from ledgerline.core.db import UnitOfWork
from ledgerline.core.events import Envelope
from ledgerline.core.inbox import claim_new
from ledgerline.core.telemetry import continue_trace, tracing_enabled
from ledgerline.payment import domain as d
from ledgerline.payment import repository, saga
from ledgerline.payment.domain import Payment, Status
from ledgerline.payment.settings import PaymentSettings

_log = logging.getLogger(__name__)
BANK_CALLS = Counter("ledgerline_bank_calls_total", "Calls to the bank", ["operation", "outcome"])
_EXPECTED_STATUS = {"charge": Status.INITIATED, "payout": Status.RESERVED, "refund_charge": Status.COMPENSATING}
_CIRCUIT = "bank"


class BankUnreachable(Exception):
    """The request certainly did not reach the bank: safe to give up after enough attempts."""


class BankOutcomeUnknown(Exception):
    """The request may have reached the bank: only a retry with the same id can tell."""


class BankServerError(Exception):
    """A 5xx from the bank; counted by the circuit breaker."""


@dataclass(frozen=True, slots=True)
class BankResult:
    approved: bool
    reason: str


class BankClient:
    def __init__(self, client: httpx.AsyncClient, settings: PaymentSettings) -> None:
        self._client = client
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=settings.bank_breaker_failures_max, default_ttl=settings.bank_breaker_reset_s
        )

    async def execute(self, payment: Payment, operation: str) -> BankResult:
        try:
            breaker = await self._breakers.get_breaker(_CIRCUIT)
            async with breaker:
                return await self._call(payment, operation)
        except OpenedState as exc:
            raise BankUnreachable("circuit open") from exc
        except httpx.ConnectError as exc:
            raise BankUnreachable(str(exc)) from exc
        except (httpx.TimeoutException, httpx.TransportError, BankServerError) as exc:
            raise BankOutcomeUnknown(str(exc)) from exc

    async def _call(self, payment: Payment, operation: str) -> BankResult:
        body = {"id": str(payment.id), "amount_minor": payment.amount_minor, "currency": payment.currency}
        if operation == "charge":
            response = await self._client.post("/v1/charges", json=body | {"card_token": payment.external_reference})
        elif operation == "payout":
            response = await self._client.post("/v1/payouts", json=body | {"bank_account": payment.external_reference})
        else:
            response = await self._client.post(f"/v1/charges/{payment.id}/refund")
        if response.status_code >= 500:
            raise BankServerError(f"bank answered {response.status_code}")
        if response.status_code >= 400 and response.status_code not in (402, 409, 422):
            raise d.SagaError(f"bank refused {operation} request: {response.status_code} {response.text}")
        result = response.json()
        approved = result.get("status") in ("approved", "paid", "refunded")
        return BankResult(approved, result.get("reason") or result.get("status", "unknown"))


@dataclass(frozen=True, slots=True)
class StepOutcome:
    transition: saga.Transition
    # Only a settled outcome marks the command processed; one whose result is unknown must
    # run again when the saga timer re-sends the same command id.
    settled: bool


_STALE = StepOutcome(lambda p: (p, []), settled=True)


class BankStep:
    """Batch handler for the `bank_operation` commands the payment service sends itself."""

    def __init__(
        self,
        *,
        consumer: str,
        bank: BankClient,
        make_uow: Callable[[], UnitOfWork],
        settings: PaymentSettings,
        clock: saga.StepClock,
    ) -> None:
        self._consumer = consumer
        self._clock = clock
        self._bank = bank
        self._settings = settings
        self._make_uow = make_uow
        self._limit = asyncio.Semaphore(settings.bank_concurrency_max)

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        commands = [(e, c.BankOperation.model_validate(e.data)) for e in envelopes if e.type == c.BANK_OPERATION]
        outcomes = await asyncio.gather(*(self._run_in_trace(e, op) for e, op in commands))
        traces = {str(op.payment_id): e.traceparent for e, op in commands}
        async with self._make_uow() as uow:
            settled = [e.id for (e, _), outcome in zip(commands, outcomes, strict=True) if outcome and outcome.settled]
            fresh = await claim_new(uow.connection, self._consumer, settled)
            steps = [
                (op.payment_id, outcome.transition)
                for (envelope, op), outcome in zip(commands, outcomes, strict=True)
                if outcome is not None and (not outcome.settled or envelope.id in fresh)
            ]
            await saga.apply_steps(uow, self._clock, steps)
            if tracing_enabled():
                uow.continue_traces(lambda message: traces.get(message.key))
            await uow.commit()

    async def _run_in_trace(self, envelope: Envelope, op: c.BankOperation) -> StepOutcome | None:
        with continue_trace(f"{self._consumer} {envelope.type}", envelope.traceparent):
            return await self._run(op)

    async def _run(self, op: c.BankOperation) -> StepOutcome | None:
        async with self._make_uow() as uow:
            payment = await repository.get(uow.connection, op.payment_id)
        if payment is None or payment.status is not _EXPECTED_STATUS[op.operation]:
            return _STALE
        async with self._limit:
            try:
                result = await self._bank.execute(payment, op.operation)
            except BankUnreachable as exc:
                BANK_CALLS.labels(op.operation, "unreachable").inc()
                _log.warning("bank unreachable for %s %s: %s", op.operation, op.payment_id, exc)
                attempts_max = self._settings.step_attempts_max
                return StepOutcome(lambda p: d.on_bank_unreachable(p, op.operation, attempts_max), settled=False)
            except BankOutcomeUnknown as exc:
                BANK_CALLS.labels(op.operation, "unknown").inc()
                _log.warning("bank outcome unknown for %s %s: %s", op.operation, op.payment_id, exc)
                return None
        BANK_CALLS.labels(op.operation, "approved" if result.approved else "declined").inc()
        return StepOutcome(lambda p: d.on_bank_result(p, op.operation, result.approved, result.reason), settled=True)
