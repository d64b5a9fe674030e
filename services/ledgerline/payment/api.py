"""Payment HTTP API: transfers, deposits, withdrawals, refunds, and payment status.

Every POST that moves money needs an `Idempotency-Key`. The payment row, its first command
and the stored response commit in one transaction; the saga then runs over Kafka, and the
client follows it with `GET /v1/payments/{id}`.

Money leaves (or, for a deposit, arrives in) only the caller's own wallet; any other answers
404 `unknown_wallet` like a missing one. A transfer may go to anyone's wallet. A payment is
read by the owner of the wallet it moved money for, or with the `admin` scope; an idempotency
key is bound to the principal that used it first.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ledgerline.core.auth import Principal, require_scopes
from ledgerline.core.http import Rfc3339Time, RuntimeDep, check_page_size, decode_cursor, encode_cursor
from ledgerline.core.idempotency import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
    validate_key,
)
from ledgerline.core.money import MoneyError, format_amount, parse_positive_amount
from ledgerline.core.money_schemas import (
    AMOUNT_LENGTH_MAX,
    CURRENCY_PATTERN,
    Currency,
    amount_field,
    amounts_in_currency,
)
from ledgerline.core.problems import Problem, not_found
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.payment import domain as d
from ledgerline.payment import repository
from ledgerline.payment.api_problems import WALLET_ID_REQUIRED, WALLET_NOT_FOUND
from ledgerline.payment.batches import TRANSFER_BATCH_MAX, BatchItem, accept_transfer_batch
from ledgerline.payment.domain import Payment, PaymentType, Status
from ledgerline.payment.intake import Acceptance, PaymentIntake
from ledgerline.payment.wallets import WalletDirectory

router = APIRouter(prefix="/v1", tags=["payments"])
_AMOUNT_IN_CURRENCY = ConfigDict(json_schema_extra=amounts_in_currency("amount"))
PaymentWriter = Annotated[Principal, Depends(require_scopes("payments:write"))]
PaymentReader = Annotated[Principal, Depends(require_scopes("payments:read"))]


IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, description="Required; at most 255 characters")]


class TransferRequest(BaseModel):
    model_config = _AMOUNT_IN_CURRENCY

    source_wallet_id: uuid.UUID
    destination_wallet_id: uuid.UUID
    amount: str = amount_field()
    currency: Currency


class DepositRequest(BaseModel):
    model_config = _AMOUNT_IN_CURRENCY

    wallet_id: uuid.UUID
    amount: str = amount_field()
    currency: Currency
    card_token: str = Field(min_length=1, max_length=200, examples=["tok_visa"])


class WithdrawalRequest(BaseModel):
    model_config = _AMOUNT_IN_CURRENCY

    wallet_id: uuid.UUID
    amount: str = amount_field()
    currency: Currency
    bank_account: str = Field(min_length=1, max_length=64, examples=["DE89370400440532013000"])


class RefundRequest(BaseModel):
    amount: str = amount_field(description="Decimal string, with no more decimals than the payment's currency has")


class TransitionView(BaseModel):
    from_status: str | None
    to_status: str
    reason: str | None
    at: datetime


class PaymentView(BaseModel):
    id: uuid.UUID
    type: Literal["transfer", "deposit", "withdrawal", "refund", "reward", "reward_clawback"]
    status: str
    amount: str
    currency: str
    source_wallet_id: uuid.UUID | None
    destination_wallet_id: uuid.UUID | None
    original_payment_id: uuid.UUID | None
    failure_reason: str | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    refund_ids: list[uuid.UUID] = Field([], description="Refunds of this payment, oldest first")
    history: list[TransitionView] = []


class PaymentPage(BaseModel):
    items: list[PaymentView]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; absent on the last")


def _view(p: Payment, **extra: Any) -> dict[str, Any]:
    return PaymentView(
        id=p.id,
        type=p.type.value,
        status=p.status.value,
        amount=format_amount(p.amount_minor, p.currency),
        currency=p.currency,
        source_wallet_id=p.source_wallet_id,
        destination_wallet_id=p.destination_wallet_id,
        original_payment_id=p.original_payment_id,
        failure_reason=p.failure_reason,
        **extra,
    ).model_dump(mode="json")


def _amount(text: str, currency: str) -> int:
    try:
        return parse_positive_amount(text, currency)
    except MoneyError as error:
        raise Problem(422, error.code, "Amount is not valid", f"amount: {error}") from None


def _store(runtime: ServiceRuntime) -> IdempotencyStore:
    store: IdempotencyStore = runtime.extras["idempotency"]
    return store


def _intake(runtime: ServiceRuntime) -> PaymentIntake:
    intake: PaymentIntake = runtime.extras["intake"]
    return intake


def _wallets(runtime: ServiceRuntime) -> WalletDirectory:
    directory: WalletDirectory = runtime.extras["wallets"]
    return directory


def _requested(body: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """What an idempotency key's fingerprint covers: the body and who sent it, so another
    principal presenting the same key is refused (422) rather than shown the first answer."""
    return body | {"requested_by": principal.subject}


async def _create(
    request: Request,
    runtime: RuntimeDep,
    principal: Principal,
    key: str | None,
    body: BaseModel,
    build: Any,
    check: Any = None,
) -> JSONResponse:
    """Run `build()` (validation, returns the saga start) once per idempotency key.

    `check(connection, payment)` runs inside the transaction that creates the payment, for
    rules that need row locks (the refund limit).
    """
    key = validate_key(key)
    fp = fingerprint(request.method, request.url.path, _requested(body.model_dump(mode="json"), principal))
    store = _store(runtime)
    stored = await store.begin(key, fp)
    if stored is not None:
        return _replay(stored)
    try:
        payment, commands = await build()
        response = StoredResponse(202, _view(payment))
        if not await _intake(runtime).accept(Acceptance(key, fp, response, payment, commands), check):
            # Another request with this key committed first (the fast path was unavailable).
            stored = await store.lookup(key, fp)
            if stored is None:
                raise Problem(409, "idempotency_key_in_flight", "Request with this key is in flight")
            return _replay(stored)
    except BaseException:
        await store.abandon(key, fp)
        raise
    return JSONResponse(response.body, status_code=202, headers={"Location": f"/v1/payments/{payment.id}"})


def _replay(stored: StoredResponse) -> JSONResponse:
    return JSONResponse(stored.body, status_code=stored.status_code, headers={REPLAYED_HEADER: "true"})


@router.post(
    "/transfers",
    status_code=202,
    response_model=PaymentView,
    responses={409: {"description": "Idempotency key in flight"}, 422: {"description": "Invalid"}},
)
async def create_transfer(
    request: Request,
    body: TransferRequest,
    runtime: RuntimeDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _create(
        request, runtime, principal, idempotency_key, body, lambda: _start_transfer(runtime, principal, body)
    )


async def _start_transfer(
    runtime: ServiceRuntime, principal: Principal, body: TransferRequest
) -> tuple[Payment, list[d.Command]]:
    amount = _amount(body.amount, body.currency)
    if body.source_wallet_id == body.destination_wallet_id:
        raise Problem(
            422,
            "self_transfer",
            "Source and destination are the same wallet",
            "a transfer needs two different wallets",
        )
    await _wallets(runtime).require_own(body.source_wallet_id, body.currency, principal, role="source")
    await _wallets(runtime).require(body.destination_wallet_id, body.currency, role="destination")
    return d.start(
        uuid.uuid4(),
        PaymentType.TRANSFER,
        amount,
        body.currency,
        source=body.source_wallet_id,
        destination=body.destination_wallet_id,
    )


class BatchTransfer(TransferRequest):
    # Money rules are checked per transfer and answered in its result, so the schema states
    # only the shape: an amount or a currency a transfer refuses does not refuse the batch.
    model_config = ConfigDict(json_schema_extra=None)
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["EUR"])
    amount: str = Field(min_length=1, max_length=AMOUNT_LENGTH_MAX, examples=["12.34"])
    id: str = Field(min_length=1, max_length=255, description="The transfer's own idempotency key")


class TransferBatchRequest(BaseModel):
    transfers: list[BatchTransfer] = Field(min_length=1, max_length=TRANSFER_BATCH_MAX)


class TransferBatchResult(BaseModel):
    id: str
    status: int = Field(description="202 accepted (or replayed), else the status of `problem`")
    payment: PaymentView | None = None
    replayed: bool = False
    problem: dict[str, Any] | None = Field(None, description="RFC 9457 problem of this transfer")


class TransferBatchView(BaseModel):
    results: list[TransferBatchResult]


@router.post(
    "/transfers/batch",
    response_model=TransferBatchView,
    summary=f"Up to {TRANSFER_BATCH_MAX} transfers, each accepted or refused on its own",
    responses={503: {"description": "At capacity; retry after Retry-After"}},
)
async def create_transfer_batch(
    body: TransferBatchRequest, runtime: RuntimeDep, principal: PaymentWriter
) -> dict[str, Any]:
    items = [
        BatchItem(
            transfer.id,
            _requested(
                TransferRequest.model_validate(transfer.model_dump(exclude={"id"})).model_dump(mode="json"), principal
            ),
            partial(_start_transfer, runtime, principal, transfer),
        )
        for transfer in body.transfers
    ]
    results = await accept_transfer_batch(items, store=_store(runtime), intake=_intake(runtime), view=_view)
    return {"results": results}


@router.post("/deposits", status_code=202, response_model=PaymentView)
async def create_deposit(
    request: Request,
    body: DepositRequest,
    runtime: RuntimeDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def build() -> tuple[Payment, list[d.Command]]:
        amount = _amount(body.amount, body.currency)
        await _wallets(runtime).require_own(body.wallet_id, body.currency, principal, role="destination")
        return d.start(
            uuid.uuid4(),
            PaymentType.DEPOSIT,
            amount,
            body.currency,
            destination=body.wallet_id,
            external_reference=body.card_token,
        )

    return await _create(request, runtime, principal, idempotency_key, body, build)


@router.post("/withdrawals", status_code=202, response_model=PaymentView)
async def create_withdrawal(
    request: Request,
    body: WithdrawalRequest,
    runtime: RuntimeDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def build() -> tuple[Payment, list[d.Command]]:
        amount = _amount(body.amount, body.currency)
        await _wallets(runtime).require_own(body.wallet_id, body.currency, principal, role="source")
        return d.start(
            uuid.uuid4(),
            PaymentType.WITHDRAWAL,
            amount,
            body.currency,
            source=body.wallet_id,
            external_reference=body.bank_account,
        )

    return await _create(request, runtime, principal, idempotency_key, body, build)


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=202,
    response_model=PaymentView,
    summary="Refund part or all of a completed transfer",
)
async def create_refund(
    request: Request,
    payment_id: uuid.UUID,
    body: RefundRequest,
    runtime: RuntimeDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def build() -> tuple[Payment, list[d.Command]]:
        async with runtime.engine.connect() as connection:
            original = await repository.get(connection, payment_id)
        if original is None:
            raise not_found("payment", payment_id)
        # A refund gives money back out of the wallet the transfer paid into: its owner's call.
        if not principal.owns(await _wallets(runtime).owner_of(original.destination_wallet_id)):
            if not await _may_read(runtime, principal, original):
                raise not_found("payment", payment_id)
            raise Problem(403, "not_payee", "Only the payee refunds", "the refund comes out of the receiving wallet")
        if original.type is not PaymentType.TRANSFER or original.status is not Status.COMPLETED:
            raise Problem(
                409,
                "not_refundable",
                "Payment cannot be refunded",
                f"only completed transfers are refunded; this is a {original.status.value} {original.type.value}",
            )
        amount = _amount(body.amount, original.currency)
        return d.start(
            uuid.uuid4(),
            PaymentType.REFUND,
            amount,
            original.currency,
            source=original.destination_wallet_id,
            destination=original.source_wallet_id,
            original_payment_id=original.id,
        )

    async def check(connection: Any, refund: Payment) -> None:
        # The original row lock serialises concurrent refunds of one payment.
        original = await repository.get(connection, payment_id, for_update=True)
        assert original is not None
        refunded = await repository.refunded_minor(connection, payment_id)
        if refunded + refund.amount_minor > original.amount_minor:
            remaining = format_amount(original.amount_minor - refunded, original.currency)
            raise Problem(
                422,
                "refund_exceeds_original",
                "Refund exceeds what is left to refund",
                f"at most {remaining} {original.currency} can still be refunded",
            )

    return await _create(request, runtime, principal, idempotency_key, body, build, check)


async def _may_read(runtime: ServiceRuntime, principal: Principal, payment: Payment) -> bool:
    """Admins read every payment; a customer those that moved money for a wallet of theirs."""
    if principal.is_admin:
        return True
    paid_in = payment.type in (PaymentType.DEPOSIT, PaymentType.REWARD)
    own_wallet = payment.destination_wallet_id if paid_in else payment.source_wallet_id
    return principal.owns(await _wallets(runtime).owner_of(own_wallet))


PAGE_SIZE_DEFAULT = 50
CURSOR_KIND = "at"


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Problem(422, "naive_time", f"{name} needs a time zone", "for example 2026-01-31T23:59:59Z")
    return value


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, _, payment_id = decode_cursor(cursor, CURSOR_KIND).partition("|")
    try:
        return datetime.fromisoformat(at), uuid.UUID(payment_id)
    except ValueError:
        raise Problem(400, "invalid_cursor", "Cursor is not valid", "use next_cursor from a previous page") from None


async def _may_list(runtime: ServiceRuntime, principal: Principal, wallet_id: uuid.UUID | None) -> None:
    """A holder lists the payments of a wallet of theirs (another's is not found); only an admin
    lists every payment."""
    if wallet_id is None:
        if not principal.is_admin:
            raise WALLET_ID_REQUIRED.problem()
        return
    if not principal.may_see(await _wallets(runtime).owner_of(wallet_id)):
        raise WALLET_NOT_FOUND.problem(f"no wallet {wallet_id}")


@router.get(
    "/payments",
    response_model=PaymentPage,
    summary="Payment history, newest first (keyset pagination)",
    description=(
        "A holder lists the payments from or to one of their wallets (`wallet_id`); an admin may leave it"
        " out to list every payment. Filters narrow the list together. `created_from` is inclusive,"
        " `created_to` exclusive."
    ),
)
async def list_payments(
    runtime: RuntimeDep,
    principal: PaymentReader,
    wallet_id: Annotated[uuid.UUID | None, Query(description="Payments from or to this wallet")] = None,
    type: Annotated[PaymentType | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    created_from: Annotated[Rfc3339Time | None, Query(description="RFC 3339 time with an offset")] = None,
    created_to: Annotated[Rfc3339Time | None, Query(description="RFC 3339 time with an offset")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> dict[str, Any]:
    check_page_size(limit, runtime.settings.page_size_max)  # type: ignore[attr-defined]
    await _may_list(runtime, principal, wallet_id)
    query = repository.PaymentQuery(
        wallet_id, type, status, _aware("created_from", created_from), _aware("created_to", created_to)
    )
    before = _position(cursor) if cursor else None
    async with runtime.engine.connect() as connection:
        listed = await repository.list_payments(connection, query, before=before, limit=limit)
        refunds = await repository.refunds_of(connection, [item.payment.id for item in listed])
    last = listed[-1] if len(listed) == limit else None
    return {
        "items": [
            _view(
                item.payment,
                created_at=item.created_at,
                updated_at=item.updated_at,
                refund_ids=refunds.get(item.payment.id, []),
            )
            for item in listed
        ],
        "next_cursor": encode_cursor(CURSOR_KIND, f"{last.created_at.isoformat()}|{last.payment.id}") if last else None,
    }


@router.get("/payments/{payment_id}", response_model=PaymentView)
async def read_payment(payment_id: uuid.UUID, runtime: RuntimeDep, principal: PaymentReader) -> dict[str, Any]:
    async with runtime.engine.connect() as connection:
        payment = await repository.get(connection, payment_id)
        if payment is None or not await _may_read(runtime, principal, payment):
            raise not_found("payment", payment_id)
        times = await repository.created_at(connection, payment_id)
        history = await repository.history(connection, payment_id)
        refunds = await repository.refunds_of(connection, [payment_id])
    created, updated = times or (None, None)
    return _view(
        payment,
        created_at=created,
        updated_at=updated,
        refund_ids=refunds.get(payment_id, []),
        history=[
            TransitionView(from_status=h.from_status, to_status=h.to_status, reason=h.reason, at=h.at) for h in history
        ],
    )
