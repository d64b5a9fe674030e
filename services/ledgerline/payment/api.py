"""Payment HTTP API: transfers, deposits, withdrawals, refunds, and payment status.

Every POST that moves money needs an `Idempotency-Key`. The payment row, its first command
and the stored response commit in one transaction; the saga then runs over Kafka, and the
client follows it with `GET /v1/payments/{id}`.

Money leaves (or, for a deposit, arrives in) only the caller's own wallet; any other answers
404 `unknown_wallet` like a missing one. A transfer may go to anyone's wallet. A payment is
read by the owner of a wallet it moved money out of or into, or with the `admin` scope; an
idempotency key is bound to the principal that used it first.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from ledgerline.core.auth import Principal, require_scopes
from ledgerline.core.http import Rfc3339Time, check_page_size, decode_cursor, encode_cursor
from ledgerline.core.idempotency import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    fingerprint,
    validate_key,
)
from ledgerline.core.money import MoneyError, format_amount
from ledgerline.core.money_schemas import (
    AMOUNT_LENGTH_MAX,
    CURRENCY_PATTERN,
    Currency,
    amount_field,
    amounts_in_currency,
)
from ledgerline.core.problems import Problem, not_found
from ledgerline.payment import domain as d
from ledgerline.payment import fx, fx_store, repository
from ledgerline.payment.api_problems import WALLET_ID_REQUIRED, WALLET_NOT_FOUND
from ledgerline.payment.atomic_batches import accept_atomic_batch
from ledgerline.payment.batches import TRANSFER_BATCH_MAX, BatchItem, accept_transfer_batch
from ledgerline.payment.domain import Payment, PaymentType, Status
from ledgerline.payment.intake import Check
from ledgerline.payment.ports import WalletLookup
from ledgerline.payment.quoted_transfers import StartQuotedTransfer, claim_quote, start_quoted_transfer, utc_now
from ledgerline.payment.service import (
    Start,
    StartDeposit,
    StartRefund,
    StartTransfer,
    StartWithdrawal,
    accept_once,
    may_read,
    refund_limit,
    start_deposit,
    start_refund,
    start_transfer,
    start_withdrawal,
)
from ledgerline.payment.wiring import PaymentCollaborators, PaymentDep

router = APIRouter(prefix="/v1", tags=["payments"])
_AMOUNT_IN_CURRENCY = ConfigDict(json_schema_extra=amounts_in_currency("amount"))
PaymentWriter = Annotated[Principal, Depends(require_scopes("payments:write"))]
PaymentReader = Annotated[Principal, Depends(require_scopes("payments:read"))]


IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, description="Required; at most 255 characters")]


class _TransferEnds(BaseModel):
    source_wallet_id: uuid.UUID
    destination_wallet_id: uuid.UUID


class TransferRequest(_TransferEnds):
    model_config = _AMOUNT_IN_CURRENCY

    amount: str = amount_field()
    currency: Currency


def _transfer_schema(schema: dict[str, Any]) -> None:
    """Either a quote (whose amounts it carries; `amount` and `currency` may repeat its source
    side) or an amount and a currency, as strict as a transfer in one currency."""
    amounts_in_currency("amount")(schema)
    in_one_currency = [{**branch, "required": ["amount", "currency"]} for branch in schema.pop("anyOf")]
    for branch in in_one_currency:  # Present and not null: `pattern` alone lets a null through.
        branch["properties"]["amount"]["type"] = "string"
    with_quote = {"required": ["quote_id"], "properties": {"quote_id": {"type": "string"}}}
    schema["anyOf"] = [with_quote, *in_one_currency]


class TransferCreateRequest(_TransferEnds):
    """A transfer in one currency, or across currencies at a quote's rate."""

    model_config = ConfigDict(json_schema_extra=_transfer_schema)

    amount: str | None = amount_field(None, description="Required without a quote; with one, its source amount")
    currency: Currency | None = Field(None, description="Required without a quote; with one, its source currency")
    # Left out of the dump when absent, so a plain transfer's idempotency fingerprint is what it
    # was before quotes existed (a key retried across the upgrade still replays).
    quote_id: uuid.UUID | None = Field(
        None, description="From `POST /v1/quotes`, for a cross-currency transfer", exclude_if=lambda v: v is None
    )

    @model_validator(mode="after")
    def _amount_or_quote(self) -> TransferCreateRequest:
        if self.quote_id is None and (self.amount is None or self.currency is None):
            raise ValueError("a transfer without a quote_id needs an amount and a currency")
        return self


class _BankPaymentRequest(BaseModel):
    """Money between the caller's wallet and the bank."""

    model_config = _AMOUNT_IN_CURRENCY

    wallet_id: uuid.UUID
    amount: str = amount_field()
    currency: Currency


class DepositRequest(_BankPaymentRequest):
    card_token: str = Field(min_length=1, max_length=200, examples=["tok_visa"])


class WithdrawalRequest(_BankPaymentRequest):
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
    destination_amount: str | None = Field(None, description="What a cross-currency transfer's destination receives")
    destination_currency: str | None = None
    quote_id: uuid.UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    refund_ids: list[uuid.UUID] = Field([], description="Refunds of this payment, oldest first")
    history: list[TransitionView] = []
    group_id: uuid.UUID | None = Field(None, description="The atomic batch the payment belongs to, if any")


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
        **_exchanged(p),
        group_id=p.group_id,
        **extra,
    ).model_dump(mode="json")


def _exchanged(p: Payment) -> dict[str, Any]:
    if not p.cross_currency or p.destination_currency is None:
        return {}
    received = format_amount(p.credited_minor, p.destination_currency)
    return {"destination_amount": received, "destination_currency": p.destination_currency, "quote_id": p.quote_id}


def _requested(body: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """What an idempotency key's fingerprint covers: the body and who sent it, so another
    principal presenting the same key is refused (422) rather than shown the first answer."""
    return body | {"requested_by": principal.subject}


# Refusals answer 422 unless named here; a wallet that is not the caller's answers as a missing one.
_REFUSAL_STATUS: dict[type[d.PaymentRefused], int] = {
    d.NotYourWallet: 404,
    d.PaymentNotFound: 404,
    d.NotPayee: 403,
    d.NotRefundable: 409,
    fx.QuoteNotFound: 404,
    fx.QuoteUsed: 409,
}


@contextmanager
def _refusals_as_problems() -> Iterator[None]:
    try:
        yield
    except d.PaymentRefused as refused:
        status = next((code for kind, code in _REFUSAL_STATUS.items() if isinstance(refused, kind)), 422)
        extensions: dict[str, Any] = {"wallet_id": str(refused.wallet_id)} if refused.wallet_id else {}
        raise Problem(status, refused.code, refused.title, refused.detail, **extensions) from None
    except MoneyError as error:
        raise Problem(422, error.code, "Amount is not valid", f"amount: {error}") from None


async def accept_request(
    request: Request,
    service: PaymentCollaborators,
    principal: Principal,
    key: str | None,
    body: BaseModel,
    start: Callable[[], Awaitable[Start]],
    check: Check | None = None,
) -> JSONResponse:
    """The payment `start()` makes, accepted once per idempotency key: 202, or the first answer replayed."""
    key = validate_key(key)
    fp = fingerprint(request.method, request.url.path, _requested(body.model_dump(mode="json"), principal))
    with _refusals_as_problems():
        accepted = await accept_once(
            key, fp, start, idempotency=service.idempotency, intake=service.intake, view=_view, check=check
        )
    response = accepted.response
    if accepted.replayed:
        return JSONResponse(response.body, status_code=response.status_code, headers={REPLAYED_HEADER: "true"})
    return JSONResponse(response.body, status_code=202, headers={"Location": f"/v1/payments/{response.body['id']}"})


@router.post(
    "/transfers",
    status_code=202,
    response_model=PaymentView,
    responses={409: {"description": "Idempotency key in flight"}, 422: {"description": "Invalid"}},
    description=(
        "With `amount` and `currency`, both wallets hold that currency. With a `quote_id` the transfer"
        " crosses currencies at the quote's rate: the source wallet (in the quote's source currency) pays"
        " the quote's source amount and the destination wallet (in its destination currency) receives"
        " its destination amount. `amount` and `currency` may then be left out; if given, they must be"
        " the quote's source side (else 422 `quote_mismatch`). A quote is used once (409 `quote_used`),"
        " before it expires (422 `quote_expired`), by the customer it was given to (another's: 404)."
    ),
)
async def create_transfer(
    request: Request,
    body: TransferCreateRequest,
    service: PaymentDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if body.quote_id is not None:
        start, check = _quoted(body.quote_id, body, service, principal)
        return await accept_request(request, service, principal, idempotency_key, body, start, check)
    start = partial(start_transfer, _transfer(principal, body), service.wallets)
    return await accept_request(request, service, principal, idempotency_key, body, start)


def _quoted(
    quote_id: uuid.UUID, body: TransferCreateRequest, service: PaymentCollaborators, principal: Principal
) -> tuple[Callable[[], Awaitable[Start]], Check]:
    async def start() -> Start:
        async with service.engine.connect() as connection:
            quote = await fx_store.get_quote(connection, quote_id)
        command = StartQuotedTransfer(
            principal, body.source_wallet_id, body.destination_wallet_id, quote, body.amount, body.currency
        )
        return await start_quoted_transfer(command, service.wallets, utc_now())

    return start, claim_quote(quote_id, principal.subject)


class BatchTransfer(TransferRequest):
    # Money rules are checked per transfer and answered in its result, so the schema states
    # only the shape: an amount or a currency a transfer refuses does not refuse the batch.
    model_config = ConfigDict(json_schema_extra=None)
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["EUR"])
    amount: str = Field(min_length=1, max_length=AMOUNT_LENGTH_MAX, examples=["12.34"])
    id: str = Field(min_length=1, max_length=255, description="The transfer's own idempotency key")


class TransferBatchRequest(BaseModel):
    transfers: list[BatchTransfer] = Field(min_length=1, max_length=TRANSFER_BATCH_MAX)
    # Strict: `0` or `"yes"` are not an answer to "all or none?".
    atomic: StrictBool = Field(
        False,
        description=(
            "All or nothing: every transfer is accepted or the batch is refused (422 `batch_refused`,"
            " naming each failing transfer), and every accepted transfer completes or every one fails"
            " (the one that could not be held with its reason, the others `linked_transfer_failed`)."
            " Transfer ids are bound to the atomic batch: the same batch sent again replays it."
        ),
    )


class TransferBatchResult(BaseModel):
    id: str
    status: int = Field(description="202 accepted (or replayed), else the status of `problem`")
    payment: PaymentView | None = None
    replayed: bool = False
    problem: dict[str, Any] | None = Field(None, description="RFC 9457 problem of this transfer")


class TransferBatchView(BaseModel):
    results: list[TransferBatchResult]


def _transfer(principal: Principal, body: TransferRequest | TransferCreateRequest) -> StartTransfer:
    if body.amount is None or body.currency is None:  # The request's validator rules this out.
        raise d.SagaError("a transfer in one currency without an amount or a currency")
    return StartTransfer(principal, body.source_wallet_id, body.destination_wallet_id, body.amount, body.currency)


async def _start_in_batch(command: StartTransfer, wallets: WalletLookup) -> Start:
    with _refusals_as_problems():
        return await start_transfer(command, wallets)


@router.post(
    "/transfers/batch",
    response_model=TransferBatchView,
    summary=f"Up to {TRANSFER_BATCH_MAX} transfers, each on its own, or all or none (`atomic`)",
    responses={503: {"description": "At capacity; retry after Retry-After"}},
)
async def create_transfer_batch(
    body: TransferBatchRequest, service: PaymentDep, principal: PaymentWriter
) -> dict[str, Any]:
    # An atomic batch's transfers are bound to it: their fingerprint says so.
    bound = {"atomic": True} if body.atomic else {}
    items = [
        BatchItem(
            transfer.id,
            _requested(
                TransferRequest.model_validate(transfer.model_dump(exclude={"id"})).model_dump(mode="json") | bound,
                principal,
            ),
            partial(_start_in_batch, _transfer(principal, transfer), service.wallets),
        )
        for transfer in body.transfers
    ]
    accept = accept_atomic_batch if body.atomic else accept_transfer_batch
    results = await accept(items, store=service.idempotency, intake=service.intake, view=_view)
    return {"results": results}


@router.post("/deposits", status_code=202, response_model=PaymentView)
async def create_deposit(
    request: Request,
    body: DepositRequest,
    service: PaymentDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = StartDeposit(principal, body.wallet_id, body.amount, body.currency, body.card_token)
    start = partial(start_deposit, command, service.wallets)
    return await accept_request(request, service, principal, idempotency_key, body, start)


@router.post("/withdrawals", status_code=202, response_model=PaymentView)
async def create_withdrawal(
    request: Request,
    body: WithdrawalRequest,
    service: PaymentDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = StartWithdrawal(principal, body.wallet_id, body.amount, body.currency, body.bank_account)
    start = partial(start_withdrawal, command, service.wallets)
    return await accept_request(request, service, principal, idempotency_key, body, start)


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
    service: PaymentDep,
    principal: PaymentWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = StartRefund(principal, payment_id, body.amount)
    start = partial(start_refund, command, service.wallets, service.payments)
    return await accept_request(request, service, principal, idempotency_key, body, start, refund_limit(payment_id))


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


async def _may_list(service: PaymentCollaborators, principal: Principal, wallet_id: uuid.UUID | None) -> None:
    """A holder lists the payments of a wallet of theirs (another's is not found); only an admin
    lists every payment."""
    if wallet_id is None:
        if not principal.is_admin:
            raise WALLET_ID_REQUIRED.problem()
        return
    if not principal.may_see(await service.wallets.owner_of(wallet_id)):
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
    service: PaymentDep,
    principal: PaymentReader,
    wallet_id: Annotated[uuid.UUID | None, Query(description="Payments from or to this wallet")] = None,
    type: Annotated[PaymentType | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    created_from: Annotated[Rfc3339Time | None, Query(description="RFC 3339 time with an offset")] = None,
    created_to: Annotated[Rfc3339Time | None, Query(description="RFC 3339 time with an offset")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> dict[str, Any]:
    check_page_size(limit, service.settings.page_size_max)
    await _may_list(service, principal, wallet_id)
    query = repository.PaymentQuery(
        wallet_id, type, status, _aware("created_from", created_from), _aware("created_to", created_to)
    )
    before = _position(cursor) if cursor else None
    async with service.engine.connect() as connection:
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
async def read_payment(payment_id: uuid.UUID, service: PaymentDep, principal: PaymentReader) -> dict[str, Any]:
    async with service.engine.connect() as connection:
        payment = await repository.get(connection, payment_id)
        if payment is None or not await may_read(principal, payment, service.wallets):
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
