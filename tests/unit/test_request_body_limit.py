"""A request body of exactly the limit reaches the route whole; one byte more is refused with a 413
problem, whether its length is declared or it arrives in chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from ledgerline.core.body_limit import RequestBodyLimit
from ledgerline.core.settings import REQUEST_BODY_BYTES_MAX
from ledgerline.payment.batches import TRANSFER_BATCH_MAX
from ledgerline.payment.settings import PaymentSettings
from ledgerline.wallet.api import WALLET_BATCH_MAX
from ledgerline.wallet.settings import WalletSettings

LIMIT = 4096


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestBodyLimit, bytes_max=LIMIT)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://service") as client:
        yield client


async def _chunks(size: int, chunk: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, size, chunk):
        yield b"x" * min(chunk, size - start)


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "body_too_large" and body["status"] == 413
    assert body["detail"] == f"at most {LIMIT} bytes" and body["instance"] == "/echo"


async def test_a_body_of_exactly_the_limit_reaches_the_route_whole(http: httpx.AsyncClient) -> None:
    response = await http.post("/echo", content=b"x" * LIMIT)
    assert response.status_code == 200 and response.json() == {"received": LIMIT}


async def test_one_byte_over_the_limit_is_refused(http: httpx.AsyncClient) -> None:
    assert_too_large(await http.post("/echo", content=b"x" * (LIMIT + 1)))


async def test_a_chunked_body_is_counted_as_it_arrives(http: httpx.AsyncClient) -> None:
    at_limit = await http.post("/echo", content=_chunks(LIMIT))
    assert at_limit.status_code == 200 and at_limit.json() == {"received": LIMIT}
    assert_too_large(await http.post("/echo", content=_chunks(LIMIT + 1)))


async def test_a_request_without_a_body_passes(http: httpx.AsyncClient) -> None:
    response = await http.get("/plain")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_largest_transfer_batch_fits_the_payment_limit() -> None:
    # Every field at its longest: a 255-character key, a 32-character amount.
    transfer = {
        "id": "k" * 255,
        "source_wallet_id": "00000000-0000-4000-8000-000000000000",
        "destination_wallet_id": "00000000-0000-4000-8000-000000000001",
        "amount": "9" * 32,
        "currency": "EUR",
    }
    body = json.dumps({"transfers": [transfer] * TRANSFER_BATCH_MAX}, indent=2).encode()
    assert REQUEST_BODY_BYTES_MAX < len(body) <= PaymentSettings().request_body_bytes_max


def test_the_largest_wallet_batch_fits_the_wallet_limit() -> None:
    # A 200-character owner and an overdraft limit as long as any amount the API accepts.
    wallet = {"owner_id": "o" * 200, "currency": "EUR", "overdraft_limit": "9" * 32}
    body = json.dumps({"wallets": [wallet] * WALLET_BATCH_MAX}, indent=2).encode()
    assert REQUEST_BODY_BYTES_MAX < len(body) <= WalletSettings().request_body_bytes_max
