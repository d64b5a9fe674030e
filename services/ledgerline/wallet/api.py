"""Wallet HTTP API: open, read, list, freeze. Money moves only through the payment service."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ledgerline.core import contracts as c
from ledgerline.core.http import RuntimeDep, check_page_size
from ledgerline.core.money import MoneyError, currency_exponent, format_amount, parse_amount
from ledgerline.core.money_schemas import Currency, amount_field, amounts_in_currency
from ledgerline.core.problems import Problem, not_found
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.wallet import domain, repository
from ledgerline.wallet.domain import Wallet, WalletStatus

router = APIRouter(prefix="/v1", tags=["wallets"])
PAGE_SIZE_DEFAULT = 100
WALLET_BATCH_MAX = 1000


class OpenWallet(BaseModel):
    model_config = ConfigDict(json_schema_extra=amounts_in_currency("overdraft_limit", zero_allowed=True))

    owner_id: str = Field(min_length=1, max_length=200, examples=["user-42"])
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


def _new_wallet(body: OpenWallet, field_prefix: str = "") -> Wallet:
    try:
        currency_exponent(body.currency)
        overdraft = parse_amount(body.overdraft_limit, body.currency)
    except MoneyError as error:
        field = "overdraft_limit" if error.code != "unknown_currency" else "currency"
        raise money_problem(error, field_prefix + field) from None
    return domain.open_wallet(uuid.uuid4(), body.owner_id, body.currency, overdraft)


async def _open(runtime: ServiceRuntime, opened: list[Wallet]) -> None:
    """The wallets and their `wallet.opened` events, in one transaction."""
    async with runtime.uow() as uow:
        await repository.add_wallets(uow.connection, opened)
        for wallet in opened:
            event = c.WalletOpened(wallet_id=wallet.id, owner_id=wallet.owner_id, currency=wallet.currency)
            uow.publish(c.message(c.WALLET_OPENED, event, key=str(wallet.id), source="/ledgerline/wallet"))
        await uow.commit()


@router.post("/wallets", status_code=201, response_model=WalletView)
async def open_wallet(body: OpenWallet, runtime: RuntimeDep, response: Response) -> WalletView:
    wallet = _new_wallet(body)
    await _open(runtime, [wallet])
    response.headers["Location"] = f"/v1/wallets/{wallet.id}"
    return WalletView.of(wallet)


@router.post(
    "/wallets/batch",
    status_code=201,
    response_model=WalletList,
    summary=f"Open up to {WALLET_BATCH_MAX} wallets at once, all or none (bulk loading)",
)
async def open_wallets(body: OpenWallets, runtime: RuntimeDep) -> WalletList:
    opened = [_new_wallet(wallet, f"wallets[{index}].") for index, wallet in enumerate(body.wallets)]
    await _open(runtime, opened)
    return WalletList(items=[WalletView.of(w) for w in opened])


# `:uuid`, so that `/wallets/batch` is never read as a wallet id (a GET there is 405, not 422).
@router.get("/wallets/{wallet_id:uuid}", response_model=WalletView)
async def read_wallet(wallet_id: uuid.UUID, runtime: RuntimeDep) -> WalletView:
    async with runtime.engine.connect() as connection:
        wallet = await repository.get_wallet(connection, wallet_id)
    if wallet is None:
        raise not_found("wallet", wallet_id)
    return WalletView.of(wallet)


@router.get("/wallets", response_model=WalletPage, summary="All wallets, in id order (keyset pages)")
async def list_all_wallets(
    runtime: RuntimeDep,
    cursor: Annotated[uuid.UUID | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> WalletPage:
    return await _page(runtime, owner_id=None, cursor=cursor, limit=limit)


@router.get("/users/{owner_id}/wallets", response_model=WalletPage)
async def list_user_wallets(
    owner_id: str,
    runtime: RuntimeDep,
    cursor: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> WalletPage:
    return await _page(runtime, owner_id=owner_id, cursor=cursor, limit=limit)


async def _page(runtime: ServiceRuntime, *, owner_id: str | None, cursor: uuid.UUID | None, limit: int) -> WalletPage:
    check_page_size(limit, runtime.settings.page_size_max)  # type: ignore[attr-defined]
    async with runtime.engine.connect() as connection:
        wallets = await repository.list_wallets(connection, owner_id=owner_id, after=cursor, limit=limit)
    next_cursor = str(wallets[-1].id) if len(wallets) == limit else None
    return WalletPage(items=[WalletView.of(w) for w in wallets], next_cursor=next_cursor)


@router.post("/wallets/{wallet_id}/freeze", response_model=WalletView)
async def freeze_wallet(wallet_id: uuid.UUID, runtime: RuntimeDep) -> WalletView:
    return await _set_status(runtime, wallet_id, WalletStatus.FROZEN)


@router.post("/wallets/{wallet_id}/unfreeze", response_model=WalletView)
async def unfreeze_wallet(wallet_id: uuid.UUID, runtime: RuntimeDep) -> WalletView:
    return await _set_status(runtime, wallet_id, WalletStatus.ACTIVE)


async def _set_status(runtime: ServiceRuntime, wallet_id: uuid.UUID, status: WalletStatus) -> WalletView:
    async with runtime.uow() as uow:
        wallet = await repository.get_wallet(uow.connection, wallet_id, for_update=True)
        if wallet is None:
            raise not_found("wallet", wallet_id)
        changed = domain.set_status(wallet, status)
        if changed is not wallet:
            await repository.save_wallet(uow.connection, changed)
        await uow.commit()
    return WalletView.of(changed)
