"""Ledger HTTP API: accounts, entries, history, balance as of a time, reconciliation.

A wallet's account is its owner's to read (the wallet service says who that is); another
customer's account answers 404. An entry shows a customer only the postings of their own
accounts, so it reveals nothing of the other side of a transfer. Listing accounts, settlement
accounts, closing an account and the reconciliation need the `admin` scope.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import Row

from ledgerline.core.auth import AdminPrincipal, Principal, require_scopes
from ledgerline.core.contracts import AccountKindName
from ledgerline.core.http import Rfc3339Time, UowDep, check_page_size, decode_cursor, encode_cursor
from ledgerline.core.money import format_amount
from ledgerline.core.openapi import DeclaredProblem, problem_responses
from ledgerline.core.problems import not_found
from ledgerline.ledger import domain, reconciliation, repository
from ledgerline.ledger.domain import Account
from ledgerline.ledger.wiring import LedgerCollaborators, LedgerDep

router = APIRouter(prefix="/v1", tags=["ledger"])
LedgerReader = Annotated[Principal, Depends(require_scopes("ledger:read"))]
PAGE_SIZE_DEFAULT = 50

CURSOR_LENGTH_MAX = 64  # base64 of "seq:" and an 18-digit sequence is 32 characters
INVALID_CURSOR = DeclaredProblem(400, "invalid_cursor", "Cursor is not valid", "use next_cursor from a previous page")
ACCOUNT_NOT_EMPTY = DeclaredProblem(409, "account_not_empty", "Account still holds money")
WALLET_SERVICE_UNAVAILABLE = DeclaredProblem(502, "wallet_service_unavailable", "Wallet service unavailable")
NAIVE_TIME = DeclaredProblem(422, "naive_time", "as_of needs a time zone", "for example 2026-01-31T23:59:59Z")


class AccountView(BaseModel):
    id: uuid.UUID
    kind: AccountKindName
    currency: str
    status: Literal["open", "closed"]
    balance: str
    posting_count: int

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls(
            id=account.id,
            kind=account.kind.value,
            currency=account.currency,
            status=account.status.value,
            balance=format_amount(account.balance_minor, account.currency),
            posting_count=account.posting_count,
        )


class PostingView(BaseModel):
    entry_id: uuid.UUID
    payment_id: uuid.UUID | None = None
    description: str | None = None
    account_id: uuid.UUID
    amount: str
    currency: str
    balance_after: str
    sequence: int
    posted_at: datetime


class PostingPage(BaseModel):
    items: list[PostingView]
    next_cursor: str | None


class BalanceView(BaseModel):
    account_id: uuid.UUID
    currency: str
    balance: str
    as_of: datetime


class EntryView(BaseModel):
    id: uuid.UUID
    payment_id: uuid.UUID
    description: str
    created_at: datetime
    postings: list[PostingView]


class ReconciliationView(BaseModel):
    ok: bool
    checked_at: datetime
    currencies: list[dict[str, object]]
    wallets_checked: int
    mismatch_count: int
    mismatches: list[dict[str, str]]
    postings_verified: bool
    unbalanced_entries: int | None
    drifted_accounts: int | None


def _posting_view(r: Row[Any], *, with_entry: bool = True) -> PostingView:
    """A posting row from the repository: the postings table's columns, with the entry's when joined."""
    return PostingView(
        entry_id=r.entry_id,
        account_id=r.account_id,
        payment_id=getattr(r, "payment_id", None) if with_entry else None,
        description=getattr(r, "description", None) if with_entry else None,
        amount=format_amount(r.amount_minor, r.currency),
        currency=r.currency,
        balance_after=format_amount(r.balance_after_minor, r.currency),
        sequence=r.account_sequence,
        posted_at=r.created_at,
    )


async def _visible(ledger: LedgerCollaborators, principal: Principal, account_id: uuid.UUID) -> bool:
    """Admins see every account; anyone else only a wallet account whose wallet they may see."""
    if principal.is_admin:
        return True
    return principal.may_see(await ledger.wallet_owners.owner_of(account_id))


async def _account_or_404(ledger: LedgerCollaborators, principal: Principal, account_id: uuid.UUID) -> Account:
    # Ownership first: an account that is not the caller's answers exactly as a missing one.
    if not await _visible(ledger, principal, account_id):
        raise not_found("account", account_id)
    async with ledger.engine.connect() as connection:
        account = await repository.get_account(connection, account_id)
    if account is None:
        raise not_found("account", account_id)
    return account


@router.get("/accounts", response_model=list[AccountView], summary="Every account (admin)")
async def list_accounts(
    ledger: LedgerDep,
    _: AdminPrincipal,
    kind: Annotated[AccountKindName | None, Query()] = None,
    cursor: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AccountView]:
    async with ledger.engine.connect() as connection:
        found = await repository.list_accounts(connection, kind=kind, after=cursor, limit=limit)
    return [AccountView.of(a) for a in found]


@router.get("/accounts/{account_id}", response_model=AccountView)
async def read_account(account_id: uuid.UUID, ledger: LedgerDep, principal: LedgerReader) -> AccountView:
    return AccountView.of(await _account_or_404(ledger, principal, account_id))


@router.post(
    "/accounts/{account_id}/close",
    response_model=AccountView,
    summary="Close an empty account (admin)",
    responses=problem_responses(ACCOUNT_NOT_EMPTY),
)
async def close_account(account_id: uuid.UUID, uow: UowDep, _: AdminPrincipal) -> AccountView:
    async with uow:
        account = await repository.get_account(uow.connection, account_id, for_update=True)
        if account is None:
            raise not_found("account", account_id)
        try:
            closed = domain.close(account)
        except ValueError as exc:
            raise ACCOUNT_NOT_EMPTY.problem(str(exc)) from None
        await repository.save_accounts(uow.connection, [closed])
        await uow.commit()
    return AccountView.of(closed)


CURSOR_KIND = "seq"


def _sequence(cursor: str) -> int:
    try:
        return int(decode_cursor(cursor, CURSOR_KIND))
    except ValueError:
        raise INVALID_CURSOR.problem() from None


@router.get(
    "/accounts/{account_id}/entries",
    response_model=PostingPage,
    summary="The account's postings, newest first (keyset pagination)",
    responses=problem_responses(INVALID_CURSOR),
)
async def account_history(
    account_id: uuid.UUID,
    ledger: LedgerDep,
    principal: LedgerReader,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=CURSOR_LENGTH_MAX, description="next_cursor of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> PostingPage:
    check_page_size(limit, ledger.settings.page_size_max)
    await _account_or_404(ledger, principal, account_id)
    before = _sequence(cursor) if cursor is not None else None
    async with ledger.engine.connect() as connection:
        rows = await repository.account_postings(connection, account_id, before_sequence=before, limit=limit)
    next_cursor = encode_cursor(CURSOR_KIND, str(rows[-1].account_sequence)) if len(rows) == limit else None
    return PostingPage(items=[_posting_view(r) for r in rows], next_cursor=next_cursor)


@router.get("/accounts/{account_id}/balance", response_model=BalanceView, responses=problem_responses(NAIVE_TIME))
async def account_balance(
    account_id: uuid.UUID,
    ledger: LedgerDep,
    principal: LedgerReader,
    as_of: Annotated[Rfc3339Time | None, Query(description="RFC 3339 time with an offset; default now")] = None,
) -> BalanceView:
    account = await _account_or_404(ledger, principal, account_id)
    if as_of is None:
        return BalanceView(
            account_id=account_id,
            currency=account.currency,
            balance=format_amount(account.balance_minor, account.currency),
            as_of=datetime.now(UTC),
        )
    if as_of.tzinfo is None:
        raise NAIVE_TIME.problem()
    async with ledger.engine.connect() as connection:
        minor = await repository.balance_as_of(connection, account_id, as_of)
    return BalanceView(
        account_id=account_id, currency=account.currency, balance=format_amount(minor, account.currency), as_of=as_of
    )


@router.get("/entries/{entry_id}", response_model=EntryView)
async def read_entry(entry_id: uuid.UUID, ledger: LedgerDep, principal: LedgerReader) -> EntryView:
    async with ledger.engine.connect() as connection:
        found = await repository.entry_with_postings(connection, entry_id)
    if found is None:
        raise not_found("entry", entry_id)
    entry, lines = found
    lines = [line for line in lines if await _visible(ledger, principal, line.account_id)]
    if not lines:
        raise not_found("entry", entry_id)
    return EntryView(
        id=entry.id,
        payment_id=entry.payment_id,
        description=entry.description,
        created_at=entry.created_at,
        postings=[_posting_view(r, with_entry=False) for r in lines],
    )


@router.get(
    "/reconciliation",
    response_model=ReconciliationView,
    summary="Wallets against the ledger (admin)",
    responses=problem_responses(WALLET_SERVICE_UNAVAILABLE),
)
async def reconcile(
    ledger: LedgerDep,
    _: AdminPrincipal,
    verify_postings: Annotated[bool, Query(description="Also re-add every posting (slow audit)")] = False,
) -> ReconciliationView:
    settings = ledger.settings
    async with ledger.wallet_client() as client:
        try:
            report = await reconciliation.run_pass(
                ledger.engine,
                client,
                page_size=settings.reconciliation_page_size,
                listed_max=settings.reconciliation_mismatches_listed_max,
                verify=verify_postings,
            )
        except httpx.HTTPError as exc:
            raise WALLET_SERVICE_UNAVAILABLE.problem(str(exc)) from None
    return ReconciliationView(
        ok=report.ok,
        checked_at=datetime.now(UTC),
        currencies=reconciliation.totals_view(report),
        wallets_checked=report.wallets_checked,
        mismatch_count=report.mismatch_count,
        mismatches=[m.view() for m in report.mismatches],
        postings_verified=verify_postings,
        unbalanced_entries=report.unbalanced_entries,
        drifted_accounts=report.drifted_accounts,
    )
