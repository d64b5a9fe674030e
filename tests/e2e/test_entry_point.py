"""The one entry point (nginx in front of the platform) serves the whole public API: a customer
registers, logs in and moves money through it alone; every operation of a public service is
routed and nothing else is; one API reference lists every service's operations; each client
address behind it has its own login rate limit, while a forged X-Forwarded-For sent straight to
a service from an address that is not the proxy is ignored."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal

import httpx

from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.infra.gateway import public_routes
from ledgerline.infra.platform import Platform
from ledgerline.reference.documents import is_public
from tests.books import assert_books_balance, minor, wallet_minor
from tests.conftest import TEST_OVERRIDES, operator_auth
from tests.e2e.test_api_docs import EXPECTED_OPERATIONS, HTTP_METHODS

ADDRESS_CAPACITY = int(TEST_OVERRIDES["identity"]["LEDGERLINE_IDENTITY_ADDRESS_RATE_LIMIT_CAPACITY"])
# Sent at once, four buckets' worth, so that they outrun the refill even on a busy machine.
ATTEMPTS = ADDRESS_CAPACITY * 4
TIMEOUT_S = 120
# Loopback is the whole of 127.0.0.0/8 on Linux: each of these is a client address of its own,
# and none of them is the proxy (127.0.0.1) the services trust.
FLOODING_CLIENT = "127.0.0.2"
OTHER_CLIENT = "127.0.0.3"
FORGING_CLIENT = "127.0.0.4"
REFERENCE = re.compile(r'"\$ref": "#/components/(\w+)/([^"]+)"')


def from_address(address: str, base_url: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=TIMEOUT_S)


async def login_attempts(http: httpx.AsyncClient, count: int, forged: bool = False) -> list[int]:
    """Logins without credentials (422 unless limited: the limit is taken first, and no password
    hashing slows the flood below the bucket's refill), each with a different forged
    X-Forwarded-For if asked."""

    def headers(n: int) -> dict[str, str]:
        return {"X-Forwarded-For": f"203.0.113.{n % 250 + 1}"} if forged else {}

    answers = await asyncio.gather(*(http.post("/v1/sessions", json={}, headers=headers(n)) for n in range(count)))
    return [a.status_code for a in answers]


async def test_a_customer_moves_money_through_the_entry_point_alone(
    platform: Platform, admin_client: LedgerlineClient
) -> None:
    entry = platform.entry_point
    alice_login, bob_login = await register_customer(entry), await register_customer(entry)
    alice = LedgerlineClient(entry, entry, entry, auth=alice_login, operator=operator_auth(platform))
    bob = LedgerlineClient(entry, entry, entry, auth=bob_login)
    try:
        alice_wallet = (await alice.open_wallet())["id"]
        bob_wallet = (await bob.open_wallet())["id"]
        assert (await alice.settle((await alice.deposit(alice_wallet, "40.00"))["id"]))["status"] == "COMPLETED"
        transfer = await alice.transfer(alice_wallet, bob_wallet, "15.25")
        assert (await alice.settle(transfer["id"]))["status"] == "COMPLETED"
        assert (await wallet_minor(alice, alice_wallet))["balance"] == minor("24.75")
        assert (await wallet_minor(bob, bob_wallet))["balance"] == minor("15.25")
        # The ledger, behind the same address, agrees with the wallets.
        assert (await alice.account(alice_wallet))["balance"] == "24.75"
        # Bob cannot see Alice's wallet through the entry point either.
        assert (await bob.wallet.get(f"/v1/wallets/{alice_wallet}")).status_code == 404
        await assert_books_balance(admin_client)
    finally:
        await alice.aclose()
        await bob.aclose()


async def test_only_the_public_paths_are_routed(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.entry_point, timeout=TIMEOUT_S) as http:
        # Prefixes match whole path elements, as a Kubernetes `Prefix` path does.
        assert (await http.get("/v1/walletsX")).status_code == 404
        # Scraping and probes stay on the services' own ports.
        assert (await http.get("/metrics")).status_code == 404
        keys = await http.get("/.well-known/jwks.json")
        assert keys.status_code == 200 and keys.json()["keys"]
        refused = await http.get("/v1/wallets/00000000-0000-0000-0000-000000000000")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_each_client_address_behind_the_entry_point_has_its_own_login_limit(platform: Platform) -> None:
    async with from_address(FLOODING_CLIENT, platform.entry_point) as flooder:
        # Claiming other addresses does not help a client behind the proxy: it sets the header.
        statuses = await login_attempts(flooder, ATTEMPTS, forged=True)
    assert set(statuses) == {422, 429}, statuses
    async with from_address(OTHER_CLIENT, platform.entry_point) as other:
        # Another address still has its whole bucket, although every request came through nginx.
        statuses = await login_attempts(other, ADDRESS_CAPACITY // 2)
    assert set(statuses) == {422}, statuses


async def test_a_forged_forwarded_address_sent_to_a_service_directly_is_ignored(platform: Platform) -> None:
    async with from_address(FORGING_CLIENT, platform.url("identity")) as forger:
        statuses = await login_attempts(forger, ATTEMPTS, forged=True)
    # Had identity believed the header, each guess would have had a bucket of its own.
    assert 429 in statuses, statuses


def test_every_operation_of_a_public_service_is_routed(platform: Platform) -> None:
    routes = public_routes()
    for service in routes:
        document = httpx.get(platform.url(service) + "/openapi.json", timeout=TIMEOUT_S).json()
        unrouted = sorted(path for path in document["paths"] if not is_public(path, routes[service]))
        assert unrouted == [], f"{service} answers {unrouted}, which the entry point does not route"


def test_the_entry_point_serves_one_reference_of_every_service(platform: Platform) -> None:
    with httpx.Client(base_url=platform.entry_point, timeout=TIMEOUT_S) as http:
        page = http.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/docs-assets/swagger-ui-bundle.js" in page.text
        assert http.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        document = http.get("/openapi.json").json()
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    listed = {(method, path) for method, path, _ in operations}
    for service in public_routes():
        assert EXPECTED_OPERATIONS[service] <= listed, f"the reference lacks {service}'s operations"
        assert any(o["tags"] == [service] for _, _, o in operations), f"no operation tagged {service}"
    assert not listed & EXPECTED_OPERATIONS["banksim"], "the bank simulator is not public"
    ids = [o["operationId"] for _, _, o in operations]
    assert len(ids) == len(set(ids))
    assert all(o["operationId"].startswith(o["tags"][0] + "_") for _, _, o in operations)
    # Every reference resolves, and every secured operation names the one shared bearer scheme.
    for section, name in REFERENCE.findall(json.dumps(document)):
        assert name in document["components"][section], f"#/components/{section}/{name} is missing"
    schemes = document["components"]["securitySchemes"]
    for _, _, operation in operations:
        for requirement in operation.get("security", []):
            assert set(requirement) <= set(schemes)
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())


def test_the_entry_point_starts_again_after_its_master_process_is_killed(platform: Platform) -> None:
    killed = platform.processes["gateway"]
    assert killed.process is not None
    # SIGKILL to the master alone, as the OOM killer would: its workers live on with the port.
    os.kill(killed.process.pid, signal.SIGKILL)
    killed.process.wait(timeout=TIMEOUT_S)
    platform.start_gateway()
    restarted = platform.processes["gateway"]
    assert restarted.running and restarted is not killed
    keys = httpx.get(platform.entry_point + "/.well-known/jwks.json", timeout=TIMEOUT_S)
    assert keys.status_code == 200 and keys.json()["keys"]
