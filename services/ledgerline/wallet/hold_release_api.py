"""`POST /v1/admin/holds/{payment_id}/releases`: an operator releases a hold its payment left
behind (found by `ledgerline verify`), with a reason that is kept (admin scope)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ledgerline.core.auth import AdminPrincipal
from ledgerline.core.http import UowDep
from ledgerline.core.money import format_amount
from ledgerline.core.openapi import DEPENDENCY_UNAVAILABLE, DeclaredProblem, post_creating
from ledgerline.wallet import hold_releases
from ledgerline.wallet.api import WalletView
from ledgerline.wallet.domain import HoldNotReleasable
from ledgerline.wallet.wiring import WalletDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])
REASON_CHARS_MAX = 1000
HOLD_NOT_FOUND = DeclaredProblem(404, "hold_not_found", "Hold not found", "no hold was taken for payment ...")
# Each refusal of `domain.release_stranded`, by its code.
NOT_RELEASABLE = {
    problem.code: problem
    for problem in (
        DeclaredProblem(409, "payment_in_flight", "The payment still holds it", "payment ... is RESERVED, in flight"),
        DeclaredProblem(409, "payment_completed", "The payment moved the money", "payment ... completed"),
        DeclaredProblem(409, "hold_not_held", "The hold is not held", "the hold of payment ... is released"),
    )
}


class ReleaseRequest(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=REASON_CHARS_MAX,
        examples=["payment failed during the 2026-11-30 database outage; hold found by ledgerline verify"],
        description="Why the hold is released; kept in the audit with who released it",
    )


class HoldReleaseView(BaseModel):
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount: str
    currency: str
    payment_status: str | None = Field(description="What the payment service said; null: it has no such payment")
    released_by: str
    reason: str
    released_at: datetime
    wallet: WalletView


@post_creating(
    router,
    "/holds/{payment_id}/releases",
    HoldReleaseView,
    HOLD_NOT_FOUND,
    *NOT_RELEASABLE.values(),
    summary="Release a hold whose payment ended without it, audited (admin)",
)
async def release_hold(
    payment_id: uuid.UUID,
    body: ReleaseRequest,
    request: Request,
    uow: UowDep,
    service: WalletDep,
    principal: AdminPrincipal,
) -> HoldReleaseView:
    async with service.payment_client() as payments:
        try:
            status = await hold_releases.payment_status(payments, payment_id, request.headers["authorization"])
        except hold_releases.PaymentStatusUnknown as error:
            raise DEPENDENCY_UNAVAILABLE.problem(f"what became of payment {payment_id}: {error}") from None
    try:
        record, wallet = await hold_releases.release_stranded_hold(
            uow, payment_id, status, principal.subject, body.reason
        )
    except hold_releases.HoldMissing:
        raise HOLD_NOT_FOUND.problem(f"no hold was taken for payment {payment_id}") from None
    except HoldNotReleasable as refused:
        raise NOT_RELEASABLE[refused.code].problem(refused.detail) from None
    return HoldReleaseView(
        payment_id=record.payment_id,
        wallet_id=record.wallet_id,
        amount=format_amount(record.amount_minor, record.currency),
        currency=record.currency,
        payment_status=record.payment_status,
        released_by=record.released_by,
        reason=record.reason,
        released_at=record.released_at,
        wallet=WalletView.of(wallet),
    )
