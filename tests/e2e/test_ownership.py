"""Every route of every service, called as the owner, another customer, no token, an expired token,
a token signed by an unknown key, a token for another audience, and the operator (admin): each
cell answers its expected status, every refusal leaves the books, the payments, the wallets and
the subscriptions exactly as they were, and a route without an entry here fails the test, as does
one served outside the OpenAPI documents unless it is an open read (probes, metrics, the docs)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from starlette.routing import Mount

from ledgerline.banksim.app import create_app as banksim_app
from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.core.db import create_engine
from ledgerline.identity import repository as identity_repository
from ledgerline.identity.app import create_app as identity_app
from ledgerline.identity.keys import KeyVault, StoredKey
from ledgerline.identity.settings import DEVELOPMENT_KEY_ENCRYPTION_SECRET, IdentitySettings
from ledgerline.infra.platform import Platform
from ledgerline.ledger.app import create_app as ledger_app
from ledgerline.notification.app import create_app as notification_app
from ledgerline.payment.app import create_app as payment_app
from ledgerline.rewards.app import create_app as rewards_app
from ledgerline.wallet.app import create_app as wallet_app
from tests.books import assert_books_balance, funded_wallet
from tests.conftest import operator_auth, platform_client
from tests.polling import eventually

APPS: dict[str, Callable[[], FastAPI]] = {
    "wallet": wallet_app,
    "ledger": ledger_app,
    "payment": payment_app,
    "notification": notification_app,
    "banksim": banksim_app,
    "rewards": rewards_app,
    # Last: its matrix rotates the signing key, which the others' bad tokens are signed with.
    "identity": identity_app,
}
# Probes, scraping and the API docs answer anyone.
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")
# What the docs pages load: Swagger UI's OAuth redirect page and the offline assets.
DOCS_SUPPORT_PATHS = ("/docs/oauth2-redirect", "/docs-assets")
# The identity service's own ways in: they take credentials in the body or Basic auth, not a bearer.
IDENTITY_GATES = {
    ("POST", "/v1/registrations"),
    ("POST", "/v1/sessions"),
    ("POST", "/v1/tokens/refresh"),
    ("POST", "/v1/logout"),
    ("POST", "/v1/tokens"),
    ("GET", "/.well-known/jwks.json"),
}
BAD_TOKENS = ("none", "expired", "unknown_key", "other_audience")
DEFAULTS = IdentitySettings()
FX_RATE = "1.1"


@dataclass
class World:
    """What the owner has, and what the other customer has, when the matrix runs."""

    owner_id: str
    wallet: str  # The owner's, funded.
    second_wallet: str  # The owner's too, empty until the transfer.
    others_wallet: str
    transfer: str  # A completed transfer from `wallet` to `second_wallet`.
    entry: str  # Its journal entry.
    notification: str  # A notification of `wallet`.
    quote: str  # The owner's quote from GBP to CHF, unused.


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Callable[[World], Any] | None = None
    params: Callable[[World], dict[str, str]] | None = None
    # Per-transfer status inside a 200 batch answer, rather than the HTTP status.
    batch_item: bool = False


@dataclass(frozen=True)
class Expect:
    owner: int
    other: int
    admin: int


def _transfer(w: World) -> dict[str, str]:
    return {"source_wallet_id": w.wallet, "destination_wallet_id": w.others_wallet, "amount": "1.00", "currency": "EUR"}


def _key() -> str:
    return str(uuid.uuid4())


# Every route: how to call it on the owner's things, and who gets what.
MATRIX: dict[tuple[str, str, str], tuple[Call, Expect]] = {
    ("wallet", "POST", "/v1/wallets"): (
        Call("POST", "/v1/wallets", body=lambda w: {"owner_id": w.owner_id, "currency": "EUR"}),
        Expect(owner=201, other=403, admin=201),
    ),
    ("wallet", "POST", "/v1/wallets/batch"): (
        Call("POST", "/v1/wallets/batch", body=lambda w: {"wallets": [{"owner_id": w.owner_id, "currency": "EUR"}]}),
        Expect(owner=201, other=403, admin=201),
    ),
    ("wallet", "GET", "/v1/wallets/{wallet_id}"): (
        Call("GET", "/v1/wallets/{wallet}"),
        Expect(owner=200, other=404, admin=200),
    ),
    ("wallet", "GET", "/v1/wallets"): (Call("GET", "/v1/wallets"), Expect(owner=403, other=403, admin=200)),
    ("wallet", "GET", "/v1/users/{owner_id}/wallets"): (
        Call("GET", "/v1/users/{owner_id}/wallets"),
        Expect(owner=200, other=404, admin=200),
    ),
    ("wallet", "POST", "/v1/wallets/{wallet_id}/freeze"): (
        Call("POST", "/v1/wallets/{wallet}/freeze"),
        Expect(owner=403, other=403, admin=200),
    ),
    ("wallet", "POST", "/v1/wallets/{wallet_id}/unfreeze"): (
        Call("POST", "/v1/wallets/{wallet}/unfreeze"),
        Expect(owner=403, other=403, admin=200),
    ),
    # The transfer completed and settled its hold: nothing is left behind to release.
    ("wallet", "POST", "/v1/admin/holds/{payment_id}/releases"): (
        Call("POST", "/v1/admin/holds/{transfer}/releases", body=lambda w: {"reason": "ownership matrix"}),
        Expect(owner=403, other=403, admin=409),
    ),
    ("ledger", "GET", "/v1/accounts"): (Call("GET", "/v1/accounts"), Expect(owner=403, other=403, admin=200)),
    ("ledger", "GET", "/v1/accounts/{account_id}"): (
        Call("GET", "/v1/accounts/{wallet}"),
        Expect(owner=200, other=404, admin=200),
    ),
    # The account holds money, so even the admin's close is refused (and changes nothing).
    ("ledger", "POST", "/v1/accounts/{account_id}/close"): (
        Call("POST", "/v1/accounts/{wallet}/close"),
        Expect(owner=403, other=403, admin=409),
    ),
    ("ledger", "GET", "/v1/accounts/{account_id}/entries"): (
        Call("GET", "/v1/accounts/{wallet}/entries"),
        Expect(owner=200, other=404, admin=200),
    ),
    ("ledger", "GET", "/v1/accounts/{account_id}/balance"): (
        Call("GET", "/v1/accounts/{wallet}/balance"),
        Expect(owner=200, other=404, admin=200),
    ),
    ("ledger", "GET", "/v1/entries/{entry_id}"): (
        Call("GET", "/v1/entries/{entry}"),
        Expect(owner=200, other=404, admin=200),
    ),
    ("ledger", "GET", "/v1/reconciliation"): (
        Call("GET", "/v1/reconciliation"),
        Expect(owner=403, other=403, admin=200),
    ),
    # Money moves only out of (or, for a deposit, into) the caller's own wallet; not even an admin's.
    ("payment", "POST", "/v1/transfers"): (
        Call("POST", "/v1/transfers", body=_transfer),
        Expect(owner=202, other=404, admin=404),
    ),
    ("payment", "POST", "/v1/transfers/batch"): (
        Call(
            "POST",
            "/v1/transfers/batch",
            body=lambda w: {"transfers": [{"id": _key(), **_transfer(w)}]},
            batch_item=True,
        ),
        Expect(owner=202, other=404, admin=404),
    ),
    ("payment", "POST", "/v1/deposits"): (
        Call(
            "POST",
            "/v1/deposits",
            body=lambda w: {"wallet_id": w.wallet, "amount": "1.00", "currency": "EUR", "card_token": "tok_visa"},
        ),
        Expect(owner=202, other=404, admin=404),
    ),
    ("payment", "POST", "/v1/withdrawals"): (
        Call(
            "POST",
            "/v1/withdrawals",
            body=lambda w: {"wallet_id": w.wallet, "amount": "1.00", "currency": "EUR", "bank_account": "DE89"},
        ),
        Expect(owner=202, other=404, admin=404),
    ),
    # The owner received the transfer (into their second wallet), so the owner refunds it.
    ("payment", "POST", "/v1/payments/{payment_id}/refunds"): (
        Call("POST", "/v1/payments/{transfer}/refunds", body=lambda w: {"amount": "1.00"}),
        Expect(owner=202, other=404, admin=403),
    ),
    ("payment", "GET", "/v1/payments/{payment_id}"): (
        Call("GET", "/v1/payments/{transfer}"),
        Expect(owner=200, other=404, admin=200),
    ),
    ("payment", "GET", "/v1/payments"): (
        Call("GET", "/v1/payments", params=lambda w: {"wallet_id": w.wallet}),
        Expect(owner=200, other=404, admin=200),
    ),
    # Reward payments are the rewards service's (scope rewards:write); an admin may pay one too.
    ("payment", "POST", "/v1/reward-payments"): (
        Call(
            "POST",
            "/v1/reward-payments",
            body=lambda w: {
                "id": _key(),
                "wallet_id": w.wallet,
                "amount": "0.01",
                "currency": "EUR",
                "rewarded_payment_id": w.transfer,
            },
        ),
        Expect(owner=403, other=403, admin=202),
    ),
    # The transfer has no reward to take back.
    ("payment", "POST", "/v1/reward-clawbacks"): (
        Call(
            "POST",
            "/v1/reward-clawbacks",
            body=lambda w: {
                "id": _key(),
                "wallet_id": w.wallet,
                "amount": "0.01",
                "currency": "EUR",
                "reward_payment_id": w.transfer,
            },
        ),
        Expect(owner=403, other=403, admin=409),
    ),
    # Rates are the operator's to set and anyone's to read; a quote is its owner's.
    ("payment", "PUT", "/v1/fx/rates/{base}/{quote}"): (
        Call("PUT", "/v1/fx/rates/GBP/CHF", body=lambda w: {"rate": FX_RATE}),
        Expect(owner=403, other=403, admin=200),
    ),
    ("payment", "GET", "/v1/fx/rates"): (Call("GET", "/v1/fx/rates"), Expect(owner=200, other=200, admin=200)),
    ("payment", "POST", "/v1/quotes"): (
        Call(
            "POST",
            "/v1/quotes",
            body=lambda w: {"source_currency": "GBP", "destination_currency": "CHF", "amount": "1.00"},
        ),
        Expect(owner=201, other=201, admin=201),
    ),
    ("payment", "GET", "/v1/quotes/{quote_id}"): (
        Call("GET", "/v1/quotes/{quote}"),
        Expect(owner=200, other=404, admin=200),
    ),
    ("notification", "POST", "/v1/webhooks"): (
        Call("POST", "/v1/webhooks", body=lambda w: {"wallet_id": w.wallet, "url": "http://127.0.0.1:9/hook"}),
        Expect(owner=201, other=404, admin=201),
    ),
    ("notification", "POST", "/v1/email-subscriptions"): (
        Call("POST", "/v1/email-subscriptions", body=lambda w: {"wallet_id": w.wallet, "address": "o@example.com"}),
        Expect(owner=201, other=404, admin=201),
    ),
    ("notification", "GET", "/v1/subscriptions"): (
        Call("GET", "/v1/subscriptions", params=lambda w: {"wallet_id": w.wallet}),
        Expect(owner=200, other=404, admin=200),
    ),
    ("notification", "GET", "/v1/notifications"): (
        Call("GET", "/v1/notifications", params=lambda w: {"wallet": w.wallet}),
        Expect(owner=200, other=404, admin=200),
    ),
    ("notification", "GET", "/v1/notifications/{notification_id}"): (
        Call("GET", "/v1/notifications/{notification}"),
        Expect(owner=200, other=404, admin=200),
    ),
    # Rules are the operator's; this one's window is long past, so it rewards nothing.
    ("rewards", "POST", "/v1/rewards/rules"): (
        Call(
            "POST",
            "/v1/rewards/rules",
            body=lambda w: {
                "payment_type": "transfer",
                "currency": "EUR",
                "minimum_amount": "0",
                "rate_bps": 100,
                "bonus": "0",
                "monthly_cap": "1.00",
                "valid_from": "2020-01-01T00:00:00Z",
                "valid_to": "2020-02-01T00:00:00Z",
            },
        ),
        Expect(owner=403, other=403, admin=201),
    ),
    ("rewards", "GET", "/v1/rewards/rules"): (
        Call("GET", "/v1/rewards/rules"),
        Expect(owner=403, other=403, admin=200),
    ),
    ("rewards", "GET", "/v1/rewards/rules/{rule_id}"): (
        Call("GET", f"/v1/rewards/rules/{uuid.uuid4()}"),
        Expect(owner=403, other=403, admin=404),
    ),
    ("rewards", "GET", "/v1/rewards"): (
        Call("GET", "/v1/rewards", params=lambda w: {"wallet_id": w.wallet}),
        Expect(owner=200, other=404, admin=200),
    ),
    ("banksim", "PUT", "/v1/admin/behaviour"): (
        Call("PUT", "/v1/admin/behaviour", body=lambda w: {"latency_ms": 0, "failure_rate_percent": 0}),
        Expect(owner=403, other=403, admin=200),
    ),
    ("banksim", "GET", "/v1/operations"): (Call("GET", "/v1/operations"), Expect(owner=403, other=403, admin=200)),
    # The bank's rate feed is the payment service's (scope bank:write) to read.
    ("banksim", "GET", "/v1/fx/rates"): (Call("GET", "/v1/fx/rates"), Expect(owner=403, other=403, admin=200)),
    # Only the payment service's client (scope bank:write) or an admin calls the bank.
    ("banksim", "POST", "/v1/charges"): (
        Call(
            "POST",
            "/v1/charges",
            body=lambda w: {"id": _key(), "amount_minor": 100, "currency": "EUR", "card_token": "tok_visa"},
        ),
        Expect(owner=403, other=403, admin=201),
    ),
    ("banksim", "POST", "/v1/payouts"): (
        Call(
            "POST",
            "/v1/payouts",
            body=lambda w: {"id": _key(), "amount_minor": 100, "currency": "EUR", "bank_account": "DE89"},
        ),
        Expect(owner=403, other=403, admin=201),
    ),
    ("banksim", "POST", "/v1/charges/{charge_id}/refund"): (
        Call("POST", f"/v1/charges/{uuid.uuid4()}/refund"),
        Expect(owner=403, other=403, admin=404),
    ),
    ("identity", "GET", "/v1/me"): (Call("GET", "/v1/me"), Expect(owner=200, other=200, admin=200)),
    ("identity", "GET", "/v1/signing-keys"): (Call("GET", "/v1/signing-keys"), Expect(owner=403, other=403, admin=200)),
    ("identity", "POST", "/v1/clients"): (
        Call(
            "POST", "/v1/clients", body=lambda w: {"client_id": f"m-{uuid.uuid4().hex[:12]}", "scopes": ["ledger:read"]}
        ),
        Expect(owner=403, other=403, admin=201),
    ),
    ("identity", "POST", "/v1/signing-keys/rotations"): (
        Call("POST", "/v1/signing-keys/rotations"),
        Expect(owner=403, other=403, admin=201),
    ),
}


def declared_routes() -> set[tuple[str, str, str]]:
    """Every (service, method, path) the apps document, read from the apps themselves."""
    routes = set()
    for service, make in APPS.items():
        for path, operations in make().openapi()["paths"].items():
            routes |= {(service, method.upper(), path) for method in operations}
    return routes


def undocumented_routes() -> set[tuple[str, str, str]]:
    """Every (service, method, path) an app serves outside its OpenAPI document (a mount: `*`)."""
    routes = set()
    for service, make in APPS.items():
        for route in make().routes:
            if isinstance(route, Mount):
                routes.add((service, "*", route.path))
            elif not getattr(route, "include_in_schema", True):
                routes |= {(service, method, route.path) for method in getattr(route, "methods", None) or {"*"}}
    return routes


def test_every_route_has_a_matrix_entry() -> None:
    # A route left out of the documents would escape the matrix: only open reads may be.
    hidden = undocumented_routes()
    assert {path for _, _, path in hidden} <= {*OPEN_PATHS, *DOCS_SUPPORT_PATHS}, hidden
    assert {method for _, method, _ in hidden} <= {"GET", "HEAD", "*"}, hidden
    routes = declared_routes()
    gates = {("identity", method, path) for method, path in IDENTITY_GATES}
    assert routes - gates - set(MATRIX) == set(), "routes without an ownership matrix entry"
    assert set(MATRIX) - routes == set(), "matrix entries for routes that no longer exist"
    assert gates <= routes


async def test_probes_metrics_and_docs_answer_without_a_token(platform: Platform) -> None:
    for service in APPS:
        async with httpx.AsyncClient(base_url=platform.url(service), timeout=30) as http:
            for path in OPEN_PATHS:
                response = await http.get(path)
                assert response.status_code == 200, (service, path, response.status_code)
            jwks = await http.get("/.well-known/jwks.json") if service == "identity" else None
            assert jwks is None or jwks.status_code == 200


# --- tokens --------------------------------------------------------------------------------------


async def active_signing_key(platform: Platform) -> StoredKey:
    engine = create_engine(platform.infra.database_url("identity"), pool_size=1, pool_timeout_s=10)
    try:
        async with engine.connect() as connection:
            keys = await identity_repository.live_signing_keys(connection, datetime.now(UTC))
    finally:
        await engine.dispose()
    now = datetime.now(UTC)
    return next(k for k in keys if k.key.activates_at <= now and k.key.retired_at is None)


def claims(subject: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": DEFAULTS.issuer,
        "aud": DEFAULTS.audience,
        "sub": subject,
        "iat": now,
        "exp": now + 300,
        "jti": _key(),
        "scope": "wallets:read wallets:write payments:read payments:write ledger:read "
        "notifications:read notifications:write",
    }
    return base | changes


async def bad_tokens(platform: Platform, owner_id: str) -> dict[str, str | None]:
    """Tokens that speak for the owner but must not be trusted; `none` sends no header at all."""
    real = await active_signing_key(platform)
    vault = KeyVault(DEVELOPMENT_KEY_ENCRYPTION_SECRET)
    past = int(time.time()) - 3600
    stranger = Ed25519PrivateKey.generate()
    return {
        "none": None,
        "expired": vault.sign(real, claims(owner_id, iat=past - 300, exp=past)),
        "unknown_key": jwt.encode(
            claims(owner_id), stranger, algorithm="EdDSA", headers={"kid": "not-a-ledgerline-key"}
        ),
        "other_audience": vault.sign(real, claims(owner_id, aud="another-api")),
    }


# --- the books -----------------------------------------------------------------------------------

BOOKS_DATABASES = ("wallet", "ledger", "payment", "notification")


@dataclass
class Actors:
    owner: LedgerlineClient  # With the operator's token for admin calls.
    auth: dict[str, httpx.Auth | None]  # owner, other, admin
    http: dict[str, httpx.AsyncClient]  # One per service, no auth of its own.
    databases: dict[str, asyncpg.Connection]


async def snapshot(actors: Actors, world: World) -> dict[str, Any]:
    """Balances and holds of the wallets involved, the ledger, and how many payments, wallets and
    subscriptions exist: what a refused request must leave exactly as it was."""
    ids = [uuid.UUID(w) for w in (world.wallet, world.second_wallet, world.others_wallet)]
    db = actors.databases
    return {
        "wallets": [
            tuple(r)
            for r in await db["wallet"].fetch(
                "SELECT id, balance_minor, held_minor, status FROM wallets WHERE id = ANY($1) ORDER BY id", ids
            )
        ],
        "wallet_count": await db["wallet"].fetchval("SELECT count(*) FROM wallets"),
        "accounts": [
            tuple(r)
            for r in await db["ledger"].fetch(
                "SELECT id, balance_minor, status FROM accounts WHERE id = ANY($1) ORDER BY id", ids
            )
        ],
        "postings": tuple(await db["ledger"].fetchrow("SELECT count(*), coalesce(sum(amount_minor), 0) FROM postings")),
        "payments": await db["payment"].fetchval("SELECT count(*) FROM payments"),
        "subscriptions": await db["notification"].fetchval("SELECT count(*) FROM subscriptions"),
    }


# --- the matrix ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def actors(platform: Platform) -> AsyncIterator[Actors]:
    owner = platform_client(platform, await register_customer(platform.url("identity")))
    other = await register_customer(platform.url("identity"))
    http = {service: httpx.AsyncClient(base_url=platform.url(service), timeout=60) for service in APPS}
    databases = {
        service: await asyncpg.connect(platform.infra.database_url(service).replace("+asyncpg", ""))
        for service in BOOKS_DATABASES
    }
    yield Actors(owner, {"owner": owner.auth, "other": other, "admin": operator_auth(platform)}, http, databases)
    for connection in databases.values():
        await connection.close()
    for client in http.values():
        await client.aclose()
    await owner.aclose()


@pytest.fixture(scope="module")
async def world(platform: Platform, actors: Actors) -> World:
    owner = actors.owner
    wallet = await funded_wallet(owner, "owner", "50.00")
    second = (await owner.open_wallet("owner-second"))["id"]
    subscription = {"wallet_id": wallet, "address": "o@example.com"}
    subscribed = await actors.http["notification"].post(
        "/v1/email-subscriptions", json=subscription, auth=actors.auth["owner"]
    )
    assert subscribed.status_code == 201, subscribed.text
    transfer = await owner.transfer(wallet, second, "10.00")
    assert transfer["status"] == "COMPLETED", transfer
    other = platform_client(platform, actors.auth["other"])  # type: ignore[arg-type]
    try:
        others_wallet = (await other.open_wallet("other"))["id"]
    finally:
        await other.aclose()
    entries = await owner.entries(wallet)
    entry = next(item["entry_id"] for item in entries["items"] if item["payment_id"] == transfer["id"])

    async def first_notification() -> str | None:
        listed = await actors.http["notification"].get(
            "/v1/notifications", params={"wallet": wallet}, auth=actors.auth["owner"]
        )
        return listed.json()[0]["id"] if listed.status_code == 200 and listed.json() else None

    notification = await eventually(first_notification, timeout_s=60)
    assert notification, "the transfer's notification was never recorded"
    assert owner.user_id is not None
    await owner.set_rate("GBP", "CHF", FX_RATE)
    quote = (await owner.quote("GBP", "CHF", "1.00"))["id"]
    return World(owner.user_id, wallet, second, others_wallet, transfer["id"], entry, str(notification), quote)


def _path(call: Call, world: World) -> str:
    return call.path.format(
        wallet=world.wallet,
        owner_id=world.owner_id,
        entry=world.entry,
        transfer=world.transfer,
        notification=world.notification,
        quote=world.quote,
    )


async def send(
    actors: Actors, service: str, call: Call, world: World, who: str, token: str | None
) -> tuple[int, httpx.Response]:
    headers = {"Idempotency-Key": _key()}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await actors.http[service].request(
        call.method,
        _path(call, world),
        json=call.body(world) if call.body else None,
        params=call.params(world) if call.params else None,
        headers=headers,
        auth=actors.auth.get(who),
    )
    if call.batch_item and response.status_code == 200:
        return int(response.json()["results"][0]["status"]), response
    return response.status_code, response


def assert_refusal(response: httpx.Response, status: int) -> None:
    if response.status_code == 200:  # A batch: the refusal is the item's problem.
        problem = response.json()["results"][0]["problem"]
        assert problem["status"] == status, problem
        return
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    assert response.json()["status"] == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), response.headers


def cells(
    service: str,
) -> tuple[list[tuple[tuple[str, str, str], str, int]], list[tuple[tuple[str, str, str], str, int]]]:
    """The service's refused cells (including every bad token) and its allowed ones."""
    refused, allowed = [], []
    for route, (_, expect) in MATRIX.items():
        if route[0] != service:
            continue
        for who in ("owner", "other", "admin"):
            status = getattr(expect, who)
            (allowed if status < 300 else refused).append((route, who, status))
        refused += [(route, bad, 401) for bad in BAD_TOKENS]
    # Rotations last: they only add a key, but nothing else should meet it mid-way.
    allowed.sort(key=lambda cell: cell[0][2].endswith("/rotations"))
    return refused, allowed


@pytest.mark.parametrize("service", list(APPS))
async def test_the_ownership_matrix(platform: Platform, actors: Actors, world: World, service: str) -> None:
    tokens = await bad_tokens(platform, world.owner_id)
    refused, allowed = cells(service)
    # Refusals first, each against the books as they stand: nothing any of them does may show.
    before = await snapshot(actors, world)
    for route, who, status in refused:
        got, response = await send(actors, service, MATRIX[route][0], world, who, tokens.get(who))
        assert got == status, f"{who} on {route}: {got} {response.text}"
        assert_refusal(response, status)
        assert await snapshot(actors, world) == before, f"{who} on {route} changed something"
    # Then what each principal may do.
    payments = []
    for route, who, status in allowed:
        call = MATRIX[route][0]
        got, response = await send(actors, service, call, world, who, None)
        assert got == status, f"{who} on {route}: {got} {response.text}"
        if got == 202:
            answer = response.json()
            payments.append(answer["results"][0]["payment"]["id"] if call.batch_item else answer["id"])
    await actors.owner.unfreeze(world.wallet)
    finished = [await actors.owner.settle(payment_id) for payment_id in payments]
    assert all(p["status"] == "COMPLETED" for p in finished), finished
    await assert_books_balance(actors.owner)
