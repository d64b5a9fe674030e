"""Rate limits in Redis: guessing passwords, or a client's secret, from one address reaches 429
and recovers after its Retry-After, while other addresses are let through; a flood of transfers
from one customer is cut at that customer's bucket while another customer's transfers go through,
and the refused transfers move no money."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from ledgerline.client import LedgerlineClient, PasswordLogin, register_customer
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, minor, wallet_minor
from tests.conftest import TEST_OVERRIDES, platform_client

ADDRESS_CAPACITY = int(TEST_OVERRIDES["identity"]["LEDGERLINE_IDENTITY_ADDRESS_RATE_LIMIT_CAPACITY"])
GUESSES = ADDRESS_CAPACITY + 20
RECOVERY_ATTEMPTS_MAX = 10
FLOOD_SIZE = 200
PAYMENT_CAPACITY = int(TEST_OVERRIDES["payment"]["LEDGERLINE_PAYMENT_RATE_LIMIT_CAPACITY"])
# Loopback is the whole of 127.0.0.0/8 on Linux: the guesses come from an address of their own,
# so the services renewing their tokens from 127.0.0.1 meanwhile are not held back.
GUESSING_ADDRESS = "127.0.0.5"
GRANT = {"grant_type": "client_credentials"}


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Limit"]) >= 1


async def test_password_guessing_reaches_429_and_recovers(platform: Platform, customer: PasswordLogin) -> None:
    async with httpx.AsyncClient(base_url=platform.url("identity"), timeout=60) as identity:
        guess = {"email": customer.email, "password": "not the password at all"}
        # At once, so that the guesses outrun the bucket's refill however slow the machine is.
        answers = await asyncio.gather(*(identity.post("/v1/sessions", json=guess) for _ in range(GUESSES)))
        statuses = {a.status_code for a in answers}
        assert statuses == {401, 429}, statuses
        refused = next(a for a in answers if a.status_code == 429)
        assert_rate_limited(refused)
        # The right password is refused too while the address is over its limit...
        right = {"email": customer.email, "password": customer.password}
        for _ in range(RECOVERY_ATTEMPTS_MAX):
            attempt = await identity.post("/v1/sessions", json=right)
            if attempt.status_code != 429:
                break
            # ...and accepted once the bucket has a token again, as Retry-After says.
            assert_rate_limited(attempt)
            await asyncio.sleep(int(attempt.headers["Retry-After"]))
        assert attempt.status_code == 201, attempt.text
        assert int(attempt.headers["RateLimit-Limit"]) == ADDRESS_CAPACITY


async def test_client_secret_guessing_reaches_429_and_recovers(platform: Platform) -> None:
    client_id, secret = platform.operator_credentials
    transport = httpx.AsyncHTTPTransport(local_address=GUESSING_ADDRESS)
    async with (
        httpx.AsyncClient(base_url=platform.url("identity"), transport=transport, timeout=60) as guesser,
        httpx.AsyncClient(base_url=platform.url("identity"), timeout=60) as elsewhere,
    ):
        wrong = (client_id, "not the secret at all")
        answers = await asyncio.gather(*(guesser.post("/v1/tokens", data=GRANT, auth=wrong) for _ in range(GUESSES)))
        statuses = {a.status_code for a in answers}
        assert statuses == {401, 429}, statuses
        assert_rate_limited(next(a for a in answers if a.status_code == 429))
        # The same client from another address is not held back...
        assert (await elsewhere.post("/v1/tokens", data=GRANT, auth=(client_id, secret))).status_code == 200
        # ...and from the guessing address the right secret waits out Retry-After like the wrong ones.
        for _ in range(RECOVERY_ATTEMPTS_MAX):
            attempt = await guesser.post("/v1/tokens", data=GRANT, auth=(client_id, secret))
            if attempt.status_code != 429:
                break
            assert_rate_limited(attempt)
            await asyncio.sleep(int(attempt.headers["Retry-After"]))
        assert attempt.status_code == 200, attempt.text
        assert attempt.json()["scope"] == "admin"


async def test_a_transfer_flood_is_cut_for_its_sender_only(platform: Platform, client: LedgerlineClient) -> None:
    flooder = await funded_wallet(client, "flooder", "500.00")
    other = platform_client(platform, await register_customer(platform.url("identity")))
    try:
        calm = await funded_wallet(other, "calm", "10.00")
        destination = (await other.open_wallet("destination"))["id"]
        transfer = {
            "source_wallet_id": flooder,
            "destination_wallet_id": destination,
            "amount": "1.00",
            "currency": "EUR",
        }
        async with httpx.AsyncClient(base_url=platform.url("payment"), timeout=120, auth=client.auth) as raw:
            await client.auth.token()  # type: ignore[union-attr]  # Logged in before the flood starts.
            flood = [
                raw.post("/v1/transfers", json=transfer, headers={"Idempotency-Key": str(uuid.uuid4())})
                for _ in range(FLOOD_SIZE)
            ]
            answers = await asyncio.gather(*flood)
            # The other customer is not held back by the flood's empty bucket.
            calm_payment = await other.post_payment(
                "/v1/transfers",
                {"source_wallet_id": calm, "destination_wallet_id": destination, "amount": "2.00", "currency": "EUR"},
            )
        assert calm_payment.status_code == 202, calm_payment.text
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {202, 429}, statuses
        limited = [a for a in answers if a.status_code == 429]
        assert limited, f"{FLOOD_SIZE} transfers at once never met the limit of {PAYMENT_CAPACITY}"
        assert_rate_limited(limited[0])
        accepted = [a.json()["id"] for a in answers if a.status_code == 202]
        assert len(accepted) >= PAYMENT_CAPACITY // 2
        finished = [await client.settle(payment_id) for payment_id in accepted]
        assert all(p["status"] == "COMPLETED" for p in finished)
        assert (await other.settle(calm_payment.json()["id"]))["status"] == "COMPLETED"
        # Only the accepted transfers moved money.
        assert await wallet_minor(client, flooder) == {
            "balance": minor("500.00") - 100 * len(accepted),
            "held": 0,
            "available": minor("500.00") - 100 * len(accepted),
        }
        assert (await wallet_minor(other, destination))["balance"] == 100 * len(accepted) + 200
        await assert_books_balance(client)
    finally:
        await other.aclose()
