"""A small async client for the platform's HTTP APIs (used by the demo, the benchmark and the tests).

Every call carries an access token, and a call refused with 429 is sent again after its
Retry-After. A customer registers and logs in (`PasswordLogin`, which
renews the token with its refresh token before it expires); an operator uses client
credentials. A client made with `operator=` sends the operator's token for what needs the
`admin` scope (reconciliation, freezing) and the customer's for everything else.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ledgerline.core.access_tokens import TOKEN_REQUEST_TIMEOUT_S, ClientCredentials, RenewingBearer

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "COMPENSATED"})
SETTLE_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.05
# Polls slow down to this: a quick payment is seen at once, a slow one is not hammered.
POLL_INTERVAL_MAX_S = 0.25
REQUEST_TIMEOUT_S = 30.0


CUSTOMER_PASSWORD_BYTES = 24
RATE_LIMITED_RETRIES_MAX = 20
RETRY_AFTER_MAX_S = 10.0


class RateLimitedRetries(httpx.AsyncBaseTransport):
    """Waits out a 429 as its Retry-After says and sends the request again, a bounded number of
    times: a refused request did nothing, so this is how a polite client keeps within its limits."""

    def __init__(self) -> None:
        self._transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(RATE_LIMITED_RETRIES_MAX):
            response = await self._transport.handle_async_request(request)
            if response.status_code != 429:
                return response
            await response.aread()
            await response.aclose()
            await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), RETRY_AFTER_MAX_S))
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


class PaymentTimeout(AssertionError):
    """A payment did not reach a terminal state in time."""


class PasswordLogin(RenewingBearer):
    """A customer's session: logs in once, then rotates its refresh token for each new access token."""

    def __init__(self, identity_url: str, email: str, password: str, user_id: str | None = None) -> None:
        super().__init__()
        self.identity_url = identity_url.rstrip("/")
        self.email = email
        self.user_id = user_id
        self.password = password
        self._refresh_token: str | None = None

    async def obtain(self) -> tuple[str, float]:
        async with httpx.AsyncClient(
            base_url=self.identity_url, timeout=TOKEN_REQUEST_TIMEOUT_S, transport=RateLimitedRetries()
        ) as http:
            response = None
            if self._refresh_token is not None:
                response = await http.post("/v1/tokens/refresh", json={"refresh_token": self._refresh_token})
            if response is None or response.status_code != 200:
                response = await http.post("/v1/sessions", json={"email": self.email, "password": self.password})
        response.raise_for_status()
        body = response.json()
        self._refresh_token = body.get("refresh_token")
        return str(body["access_token"]), float(body["expires_in"])


async def register_customer(identity_url: str, email: str | None = None) -> PasswordLogin:
    """A new customer with a random password, logged in; `user_id` is who their wallets belong to."""
    email = email or f"customer-{uuid.uuid4().hex[:12]}@example.com"
    password = secrets.token_urlsafe(CUSTOMER_PASSWORD_BYTES)
    async with httpx.AsyncClient(
        base_url=identity_url, timeout=TOKEN_REQUEST_TIMEOUT_S, transport=RateLimitedRetries()
    ) as http:
        response = await http.post("/v1/registrations", json={"email": email, "password": password})
    response.raise_for_status()
    login = PasswordLogin(identity_url, email, password, user_id=str(response.json()["id"]))
    await login.token()
    return login


def operator_from_file(path: Path) -> ClientCredentials:
    """The admin client that `ledgerline up` writes to its data folder."""
    fields = json.loads(path.read_text())
    return ClientCredentials(fields["identity_url"], fields["client_id"], fields["client_secret"])


@dataclass
class LedgerlineClient:
    wallet_url: str
    ledger_url: str
    payment_url: str
    auth: httpx.Auth | None = None
    operator: httpx.Auth | None = None

    def __post_init__(self) -> None:
        options: dict[str, Any] = {"timeout": REQUEST_TIMEOUT_S, "auth": self.auth}
        self.wallet = httpx.AsyncClient(base_url=self.wallet_url, transport=RateLimitedRetries(), **options)
        self.ledger = httpx.AsyncClient(base_url=self.ledger_url, transport=RateLimitedRetries(), **options)
        self.payment = httpx.AsyncClient(base_url=self.payment_url, transport=RateLimitedRetries(), **options)

    @property
    def user_id(self) -> str | None:
        """Who this client's wallets belong to, for a customer client."""
        return self.auth.user_id if isinstance(self.auth, PasswordLogin) else None

    def _admin(self) -> Any:  # An httpx.Auth, or httpx's marker for "the client's own".
        return self.operator or httpx.USE_CLIENT_DEFAULT

    async def aclose(self) -> None:
        for client in (self.wallet, self.ledger, self.payment):
            await client.aclose()

    async def open_wallet(
        self, holder: str | None = None, currency: str = "EUR", *, owner_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A wallet of this client's principal. `holder` only names it for the reader of a test or
        demo; `owner_id` opens it for someone else, which only an admin may."""
        body = {"currency": currency, **({"owner_id": owner_id} if owner_id else {}), **extra}
        response = await self.wallet.post("/v1/wallets", json=body)
        response.raise_for_status()
        return dict(response.json())

    async def freeze(self, wallet_id: str) -> httpx.Response:
        return await self.wallet.post(f"/v1/wallets/{wallet_id}/freeze", auth=self._admin())

    async def unfreeze(self, wallet_id: str) -> httpx.Response:
        return await self.wallet.post(f"/v1/wallets/{wallet_id}/unfreeze", auth=self._admin())

    async def close_account(self, account_id: str) -> httpx.Response:
        return await self.ledger.post(f"/v1/accounts/{account_id}/close", auth=self._admin())

    async def get_wallet(self, wallet_id: str) -> dict[str, Any]:
        response = await self.wallet.get(f"/v1/wallets/{wallet_id}")
        response.raise_for_status()
        return dict(response.json())

    async def post_payment(self, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return await self.payment.post(path, json=body, headers=headers)

    async def deposit(
        self, wallet_id: str, amount: str, currency: str = "EUR", card_token: str = "tok_visa"
    ) -> dict[str, Any]:
        response = await self.post_payment(
            "/v1/deposits", {"wallet_id": wallet_id, "amount": amount, "currency": currency, "card_token": card_token}
        )
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def transfer(self, source: str, destination: str, amount: str, currency: str = "EUR") -> dict[str, Any]:
        response = await self.post_payment(
            "/v1/transfers",
            {"source_wallet_id": source, "destination_wallet_id": destination, "amount": amount, "currency": currency},
        )
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def set_rate(self, base: str, quote: str, rate: str) -> dict[str, Any]:
        """The operator's rate for one unit of `base` in `quote`."""
        response = await self.payment.put(f"/v1/fx/rates/{base}/{quote}", json={"rate": rate}, auth=self._admin())
        response.raise_for_status()
        return dict(response.json())

    async def quote(self, source_currency: str, destination_currency: str, amount: str, **extra: Any) -> dict[str, Any]:
        body = {"source_currency": source_currency, "destination_currency": destination_currency, "amount": amount}
        response = await self.payment.post("/v1/quotes", json=body | extra)
        response.raise_for_status()
        return dict(response.json())

    async def exchange(self, source: str, destination: str, quote_id: str) -> dict[str, Any]:
        """A cross-currency transfer at the quote's rate, followed to its end."""
        body = {"source_wallet_id": source, "destination_wallet_id": destination, "quote_id": quote_id}
        response = await self.post_payment("/v1/transfers", body)
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def withdraw(
        self, wallet_id: str, amount: str, currency: str = "EUR", bank_account: str = "DE89370400440532013000"
    ) -> dict[str, Any]:
        response = await self.post_payment(
            "/v1/withdrawals",
            {"wallet_id": wallet_id, "amount": amount, "currency": currency, "bank_account": bank_account},
        )
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def refund(self, payment_id: str, amount: str) -> dict[str, Any]:
        response = await self.post_payment(f"/v1/payments/{payment_id}/refunds", {"amount": amount})
        response.raise_for_status()
        return await self.settle(response.json()["id"])

    async def get_payment(self, payment_id: str) -> dict[str, Any]:
        response = await self.payment.get(f"/v1/payments/{payment_id}")
        response.raise_for_status()
        return dict(response.json())

    async def payments(self, **params: Any) -> dict[str, Any]:
        """One page of payment history (filters and `cursor` as query parameters)."""
        response = await self.payment.get("/v1/payments", params=params)
        response.raise_for_status()
        return dict(response.json())

    async def settle(self, payment_id: str, timeout_s: float = SETTLE_TIMEOUT_S) -> dict[str, Any]:
        """Poll until the payment is terminal, more slowly as it takes longer; returns its final view."""
        deadline = time.monotonic() + timeout_s
        interval_s, status = POLL_INTERVAL_S, "unread"
        while True:
            response = await self.payment.get(f"/v1/payments/{payment_id}")
            # A poll refused for the rate limit (after the transport's own waits) is simply made
            # later: many payments settled at once must not fail the ones polled last.
            if response.status_code != 429:
                response.raise_for_status()
                payment = dict(response.json())
                if payment["status"] in TERMINAL_STATUSES:
                    return payment
                status = payment["status"]
            if time.monotonic() > deadline:
                raise PaymentTimeout(f"payment {payment_id} still {status} after {timeout_s}s")
            await asyncio.sleep(interval_s)
            interval_s = min(interval_s * 2, POLL_INTERVAL_MAX_S)

    async def account(self, account_id: str, *, as_operator: bool = False) -> dict[str, Any]:
        """A ledger account; a settlement account is the operator's to read (`as_operator`)."""
        auth = self._admin() if as_operator else httpx.USE_CLIENT_DEFAULT
        response = await self.ledger.get(f"/v1/accounts/{account_id}", auth=auth)
        response.raise_for_status()
        return dict(response.json())

    async def entries(self, account_id: str, **params: Any) -> dict[str, Any]:
        response = await self.ledger.get(f"/v1/accounts/{account_id}/entries", params=params)
        response.raise_for_status()
        return dict(response.json())

    async def reconciliation(self, verify_postings: bool = True) -> dict[str, Any]:
        response = await self.ledger.get(
            "/v1/reconciliation", params={"verify_postings": str(verify_postings).lower()}, auth=self._admin()
        )
        response.raise_for_status()
        return dict(response.json())
