"""Wallet HTTP API: open, read, list, freeze. Money moves only through the payment service.

A customer opens wallets for themselves and sees only their own; another customer's wallet
answers 404 like one that does not exist. Listing every wallet, freezing and unfreezing need
the `admin` scope; services read any wallet with `wallets:read-any`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ledgerline.core import contracts as c
from ledgerline.core import scopes
from ledgerline.core.auth import AdminPrincipal, Principal, require_scopes
from ledgerline.core.db import UnitOfWork
from ledgerline.core.http import UowDep, check_page_size
from ledgerline.core.money import MoneyError, currency_exponent, format_amount, parse_amount
from ledgerline.core.money_schemas import Currency, amount_field, amounts_in_currency
from ledgerline.core.problems import Problem, not_found
from ledgerline.wallet import domain, repository
from ledgerline.wallet.domain import Wallet, WalletStatus
from ledgerline.wallet.wiring import WalletCollaborators, WalletDep

router = APIRouter(prefix="/v1", tags=["wallets"])
WalletReader = Annotated[Principal, Depends(require_scopes("wallets:read"))]
WalletWriter = Annotated[Principal, Depends(require_scopes("wallets:write"))]
PAGE_SIZE_DEFAULT = 100
WALLET_BATCH_MAX = 1000


class OpenWallet(BaseModel):
    model_config = ConfigDict(json_schema_extra=amounts_in_currency("overdraft_limit", zero_allowed=True))

    owner_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        examples=["user-42"],
        description="Who owns the wallet: the caller when left out; only an admin names someone else",
    )
    currency: Currency
    overdraft_limit: str = amount_field(
        "0", zero_allowed=True, description="Decimal string; how far available may go below zero"
    )


class WalletView(BaseModel):
    id: uuid.UUID
    owner_id: str
    currency: str
    balance: str
    held: str
    available: str
    overdraft_limit: str
    status: Literal["active", "frozen"]
    version: int

    @classmethod
    def of(cls, wallet: Wallet) -> WalletView:
        cur = wallet.currency
        return cls(
            id=wallet.id,
            owner_id=wallet.owner_id,
            currency=cur,
            balance=format_amount(wallet.balance_minor, cur),
            held=format_amount(wallet.held_minor, cur),
            available=format_amount(wallet.available_minor, cur),
            overdraft_limit=format_amount(wallet.overdraft_limit_minor, cur),
            status=wallet.status.value,
            version=wallet.version,
        )


class WalletPage(BaseModel):
    items: list[WalletView]
    next_cursor: str | None


def money_problem(error: MoneyError, field: str) -> Problem:
    return Problem(422, error.code, "Amount or currency is not valid", f"{field}: {error}")


class OpenWallets(BaseModel):
    wallets: list[OpenWallet] = Field(min_length=1, max_length=WALLET_BATCH_MAX)


class WalletList(BaseModel):
    items: list[WalletView]


def _owner(body: OpenWallet, principal: Principal, field_prefix: str) -> str:
    if body.owner_id is None or body.owner_id == principal.subject:
        return principal.subject
    if not principal.is_admin:
        raise Problem(
            403,
            "owner_not_allowed",
            "A wallet belongs to whoever opens it",
            f"{field_prefix}owner_id: only an admin opens a wallet for someone else",
        )
    return body.owner_id


def _new_wallet(body: OpenWallet, principal: Principal, field_prefix: str = "") -> Wallet:
    owner_id = _owner(body, principal, field_prefix)
    try:
        currency_exponent(body.currency)
        overdraft = parse_amount(body.overdraft_limit, body.currency)
    except MoneyError as error:
        field = "overdraft_limit" if error.code != "unknown_currency" else "currency"
        raise money_problem(error, field_prefix + field) from None
    return domain.open_wallet(uuid.uuid4(), owner_id, body.currency, overdraft)


async def _open(uow: UnitOfWork, opened: list[Wallet]) -> None:
    """The wallets and their `wallet.opened` events, in one transaction."""
    async with uow:
        await repository.add_wallets(uow.connection, opened)
        for wallet in opened:
            event = c.WalletOpened(wallet_id=wallet.id, owner_id=wallet.owner_id, currency=wallet.currency)
            uow.publish(c.message(c.WALLET_OPENED, event, key=str(wallet.id), source="/ledgerline/wallet"))
        await uow.commit()


@router.post("/wallets", status_code=201, response_model=WalletView)
async def open_wallet(body: OpenWallet, uow: UowDep, response: Response, principal: WalletWriter) -> WalletView:
    wallet = _new_wallet(body, principal)
    await _open(uow, [wallet])
    response.headers["Location"] = f"/v1/wallets/{wallet.id}"
    return WalletView.of(wallet)


@router.post(
    "/wallets/batch",
    status_code=201,
    response_model=WalletList,
    summary=f"Open up to {WALLET_BATCH_MAX} wallets at once, all or none (bulk loading)",
)
async def open_wallets(body: OpenWallets, uow: UowDep, principal: WalletWriter) -> WalletList:
    opened = [_new_wallet(wallet, principal, f"wallets[{index}].") for index, wallet in enumerate(body.wallets)]
    await _open(uow, opened)
    return WalletList(items=[WalletView.of(w) for w in opened])


# `:uuid`, so that `/wallets/batch` is never read as a wallet id (a GET there is 405, not 422).
@router.get("/wallets/{wallet_id:uuid}", response_model=WalletView)
async def read_wallet(wallet_id: uuid.UUID, service: WalletDep, principal: WalletReader) -> WalletView:
    async with service.engine.connect() as connection:
        wallet = await repository.get_wallet(connection, wallet_id)
    if wallet is None or not principal.may_see(wallet.owner_id):
        raise not_found("wallet", wallet_id)
    return WalletView.of(wallet)


@router.get("/wallets", response_model=WalletPage, summary="All wallets, in id order (keyset pages; admin)")
async def list_all_wallets(
    service: WalletDep,
    _: Annotated[Principal, Depends(require_scopes(scopes.WALLETS_READ_ANY))],
    cursor: Annotated[uuid.UUID | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> WalletPage:
    return await _page(service, owner_id=None, cursor=cursor, limit=limit)


@router.get("/users/{owner_id}/wallets", response_model=WalletPage)
async def list_user_wallets(
    owner_id: str,
    service: WalletDep,
    principal: WalletReader,
    cursor: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> WalletPage:
    if not principal.may_see(owner_id):
        raise not_found("user", owner_id)
    return await _page(service, owner_id=owner_id, cursor=cursor, limit=limit)


async def _page(
    service: WalletCollaborators, *, owner_id: str | None, cursor: uuid.UUID | None, limit: int
) -> WalletPage:
    check_page_size(limit, service.settings.page_size_max)
    async with service.engine.connect() as connection:
        wallets = await repository.list_wallets(connection, owner_id=owner_id, after=cursor, limit=limit)
    next_cursor = str(wallets[-1].id) if len(wallets) == limit else None
    return WalletPage(items=[WalletView.of(w) for w in wallets], next_cursor=next_cursor)


@router.post("/wallets/{wallet_id}/freeze", response_model=WalletView, summary="Freeze (admin)")
async def freeze_wallet(wallet_id: uuid.UUID, uow: UowDep, _: AdminPrincipal) -> WalletView:
    return await _set_status(uow, wallet_id, WalletStatus.FROZEN)


@router.post("/wallets/{wallet_id}/unfreeze", response_model=WalletView, summary="Unfreeze (admin)")
async def unfreeze_wallet(wallet_id: uuid.UUID, uow: UowDep, _: AdminPrincipal) -> WalletView:
    return await _set_status(uow, wallet_id, WalletStatus.ACTIVE)


async def _set_status(uow: UnitOfWork, wallet_id: uuid.UUID, status: WalletStatus) -> WalletView:
    async with uow:
        wallet = await repository.get_wallet(uow.connection, wallet_id, for_update=True)
        if wallet is None:
            raise not_found("wallet", wallet_id)
        changed = domain.set_status(wallet, status)
        if changed is not wallet:
            await repository.save_wallet(uow.connection, changed)
        await uow.commit()
    return WalletView.of(changed)
