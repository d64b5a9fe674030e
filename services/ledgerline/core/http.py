"""What every service's routes share: the runtime as a FastAPI dependency, page limits, and
who owns a wallet."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ledgerline.core.problems import Problem
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.core.wallet_owners import WalletOwners


async def get_runtime(request: Request) -> ServiceRuntime:
    # Async on purpose: FastAPI runs a plain function dependency in a worker thread.
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


def check_page_size(limit: int, page_size_max: int) -> None:
    if limit > page_size_max:
        raise Problem(422, "page_too_large", "Page size too large", f"limit must be <= {page_size_max}")


def wallet_owners(runtime: ServiceRuntime) -> WalletOwners:
    """The service's view of who owns which wallet (its settings name the wallet service)."""
    owners: WalletOwners | None = runtime.extras.get("wallet_owners")
    if owners is None:
        wallet_url: str = runtime.settings.wallet_url  # type: ignore[attr-defined]
        owners = runtime.extras["wallet_owners"] = WalletOwners(runtime.peer_client(wallet_url))
    return owners
