"""The running identity service issues tokens that the shared verifier checks against its JWKS:
registration and login (a wrong password and an unknown user answer alike), refresh rotation,
reuse of a rotated refresh token revoking the whole family, logout, signing-key rotation with
overlap, and client credentials with scopes granted and refused."""

from __future__ import annotations

import asyncio
import base64
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis

from ledgerline.core import topics
from ledgerline.core.auth import (
    REVOKED_SESSION_PREFIX,
    REVOKED_SESSIONS_WHOLE_KEY,
    HttpJwksSource,
    RevokedSessions,
    TokenRejected,
    TokenVerifier,
    VerifierLimits,
)
from ledgerline.core.contracts import USER_REGISTERED
from ledgerline.core.events import decode
from ledgerline.identity.api import FORM_FIELDS_MAX
from ledgerline.identity.settings import IdentitySettings
from ledgerline.infra.platform import Platform
from tests.operator.conftest import read_topic
from tests.polling import eventually

PASSWORD = "a long enough passphrase"
DEFAULTS = IdentitySettings()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def identity(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.url("identity"), timeout=30) as http:
        yield http


@pytest.fixture
async def redis(platform: Platform) -> AsyncIterator[Redis]:
    client = Redis.from_url(platform.infra.redis.url, socket_timeout=2)
    yield client
    await client.aclose()


def verifier_for(platform: Platform, redis: Redis | None = None, audience: str = DEFAULTS.audience) -> TokenVerifier:
    source = HttpJwksSource(f"{platform.url('identity')}/.well-known/jwks.json", timeout_s=5)
    return TokenVerifier(
        source,
        issuer=DEFAULTS.issuer,
        audience=audience,
        limits=VerifierLimits(refresh_interval_min_s=1, cache_max_age_s=300),
        revoked_sessions=RevokedSessions(redis) if redis is not None else None,
    )


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


async def register(http: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await http.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await http.post("/v1/sessions", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def refresh(http: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await http.post("/v1/tokens/refresh", json={"refresh_token": refresh_token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_client_with_cli(platform: Platform, client_id: str, *scopes: str) -> str:
    """`ledgerline identity create-client`, as an operator bootstraps the first admin client."""
    command = [sys.executable, "-m", "ledgerline.cli", "identity", "create-client", client_id]
    for scope in scopes:
        command += ["--scope", scope]
    output = subprocess.run(command, env=platform.env("identity"), capture_output=True, text=True, check=True)
    fields = dict(line.split("=", 1) for line in output.stdout.splitlines() if "=" in line)
    assert fields["client_id"] == client_id
    return fields["client_secret"]


async def client_token(
    http: httpx.AsyncClient, client_id: str, secret: str, scope: str | None = None
) -> httpx.Response:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return await http.post("/v1/tokens", data=form, headers={"Authorization": f"Basic {basic}"})


async def admin_token(http: httpx.AsyncClient, platform: Platform) -> str:
    client_id = f"ops-{uuid.uuid4().hex[:8]}"
    secret = await asyncio.to_thread(create_client_with_cli, platform, client_id, "admin")
    response = await client_token(http, client_id, secret)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_register_login_and_verify_against_the_jwks(identity: httpx.AsyncClient, platform: Platform) -> None:
    email = new_email()
    user = await register(identity, email.upper())
    assert user["email"] == email and "payments:write" in user["scopes"]
    again = await identity.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert again.status_code == 409 and again.json()["code"] == "email_taken"
    short = await identity.post("/v1/registrations", json={"email": new_email(), "password": "short"})
    assert short.status_code == 422 and short.headers["content-type"] == "application/problem+json"
    assert short.json()["code"] == "password_rejected"
    tokens = await login(identity, email)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == DEFAULTS.access_token_ttl_s
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]
    jwks = (await identity.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"]), "no private key material is ever published"
    principal = await verifier_for(platform).verify(tokens["access_token"])
    assert principal.subject == user["id"] and principal.has_scopes("payments:write", "ledger:read")
    assert principal.session_id is not None
    registered = await eventually(lambda: announced(platform, user["id"]), timeout_s=30)
    assert registered, "user.registered reaches Kafka through the outbox"
    me = await identity.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["subject"] == user["id"]
    with pytest.raises(TokenRejected, match="another audience"):
        await verifier_for(platform, audience="another-api").verify(tokens["access_token"])


async def test_wrong_password_and_unknown_user_answer_alike(identity: httpx.AsyncClient) -> None:
    email = new_email()
    await register(identity, email)
    durations: dict[str, list[float]] = {"wrong_password": [], "unknown_user": []}
    bodies = {}
    for _ in range(5):
        for case, address in (("wrong_password", email), ("unknown_user", new_email())):
            started = time.perf_counter()
            response = await identity.post("/v1/sessions", json={"email": address, "password": "not the password"})
            durations[case].append(time.perf_counter() - started)
            assert response.status_code == 401
            bodies[case] = response.json()
    assert bodies["wrong_password"] == bodies["unknown_user"]
    assert bodies["unknown_user"]["code"] == "invalid_credentials"
    # Without the dummy hash an unknown user would answer in a fraction of the argon2 time.
    wrong, unknown = statistics.median(durations["wrong_password"]), statistics.median(durations["unknown_user"])
    assert unknown > 0.5 * wrong, durations


async def test_refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_family(
    identity: httpx.AsyncClient, platform: Platform, redis: Redis
) -> None:
    email = new_email()
    await register(identity, email)
    first = await login(identity, email)
    second = await refresh(identity, first["refresh_token"])
    assert second.status_code == 200, second.text
    second_tokens = second.json()
    assert second_tokens["refresh_token"] != first["refresh_token"]
    third = await refresh(identity, second_tokens["refresh_token"])
    assert third.status_code == 200
    sibling = third.json()
    verifier = verifier_for(platform, redis)
    assert (await verifier.verify(sibling["access_token"])).session_id is not None
    replayed = await refresh(identity, first["refresh_token"])
    assert replayed.status_code == 400 and replayed.json()["code"] == "invalid_grant"
    after_reuse = await refresh(identity, sibling["refresh_token"])
    assert after_reuse.status_code == 400, "the newest token of a burnt family must stop working too"
    with pytest.raises(TokenRejected, match="session revoked"):
        await verifier.verify(sibling["access_token"])
    other_session = await login(identity, email)
    assert (await refresh(identity, other_session["refresh_token"])).status_code == 200, "other families live on"


async def test_logout_revokes_the_family(identity: httpx.AsyncClient, platform: Platform, redis: Redis) -> None:
    email = new_email()
    await register(identity, email)
    tokens = await login(identity, email)
    out = await identity.post("/v1/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    assert (await refresh(identity, tokens["refresh_token"])).status_code == 400
    with pytest.raises(TokenRejected, match="session revoked"):
        await verifier_for(platform, redis).verify(tokens["access_token"])
    assert (await identity.post("/v1/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204
    assert (await identity.post("/v1/logout", json={"refresh_token": "not-a-token"})).status_code == 204


async def test_a_revoked_session_stays_refused_after_redis_loses_its_data(
    identity: httpx.AsyncClient, platform: Platform, redis: Redis
) -> None:
    email = new_email()
    await register(identity, email)
    access = (tokens := await login(identity, email))["access_token"]
    session_id = jwt.decode(access, options={"verify_signature": False})["sid"]
    nowhere = f"/v1/wallets/{uuid.uuid4()}"
    async with httpx.AsyncClient(base_url=platform.url("wallet"), timeout=30) as wallet:
        assert (await wallet.get(nowhere, headers=bearer(access))).status_code == 404  # Let in: none such.
        assert (await identity.post("/v1/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204

        async def refused_by_wallet() -> bool:
            return (await wallet.get(nowhere, headers=bearer(access))).status_code == 401

        # The wallet service remembered "not revoked" for up to its revocation cache (2 s).
        assert await eventually(refused_by_wallet), "the logged-out session was never refused"

        await redis.flushall()  # As a Redis restarted without its data: every revocation is gone.
        assert await eventually(lambda: redis.exists(REVOKED_SESSIONS_WHOLE_KEY)), "identity never restored Redis"
        assert await redis.exists(REVOKED_SESSION_PREFIX + session_id)
        refused = await wallet.get(nowhere, headers=bearer(access))
    assert refused.status_code == 401 and "revoked" in refused.text, refused.text
    assert (await identity.get("/v1/me", headers=bearer(access))).status_code == 401
    with pytest.raises(TokenRejected, match="session revoked"):
        await verifier_for(platform, redis).verify(access)
    # A session that was never revoked is let in as before.
    fresh = (await login(identity, email))["access_token"]
    assert (await identity.get("/v1/me", headers=bearer(fresh))).status_code == 200


async def test_client_credentials_with_scopes_and_scope_refusal(
    identity: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await admin_token(identity, platform)
    verifier = verifier_for(platform)
    assert (await verifier.verify(admin)).scopes == {"admin"}
    client_id = f"payments-{uuid.uuid4().hex[:8]}"
    created = await identity.post(
        "/v1/clients", json={"client_id": client_id, "scopes": ["payments:write", "ledger:read"]}, headers=bearer(admin)
    )
    assert created.status_code == 201, created.text
    secret = created.json()["client_secret"]
    narrow = await identity.post(
        "/v1/tokens",
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "ledger:read",
        },
    )
    assert narrow.status_code == 200 and narrow.json()["scope"] == "ledger:read"
    assert "refresh_token" not in narrow.json() or narrow.json()["refresh_token"] is None
    principal = await verifier.verify(narrow.json()["access_token"])
    assert principal.subject == client_id and principal.scopes == {"ledger:read"}
    whole = await client_token(identity, client_id, secret)
    assert whole.json()["scope"] == "ledger:read payments:write"
    beyond = await client_token(identity, client_id, secret, scope="ledger:read admin")
    assert beyond.status_code == 400 and beyond.json()["code"] == "invalid_scope"
    unknown = await client_token(identity, client_id, secret, scope="everything")
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_scope"
    wrong = await client_token(identity, client_id, "not-the-secret")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_client"
    stranger = await client_token(identity, "nobody-here", "not-the-secret")
    assert stranger.json() == {**wrong.json()}, "an unknown client answers like a wrong secret"
    basic = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
    extra = await identity.post("/v1/tokens", data={"grant_type": "client_credentials", "resource": "x"}, headers=basic)
    assert extra.status_code == 200, "a parameter the server does not know is ignored (RFC 6749 3.2)"
    twice = await identity.post(
        "/v1/tokens", content="grant_type=client_credentials&scope=a&scope=b", headers={**basic, **FORM}
    )
    assert twice.status_code == 400 and twice.json()["code"] == "invalid_request"
    crowded = "&".join(["grant_type=client_credentials", *(f"p{n}=v" for n in range(FORM_FIELDS_MAX))])
    too_many = await identity.post("/v1/tokens", content=crowded, headers={**basic, **FORM})
    assert too_many.status_code == 400 and too_many.json()["code"] == "invalid_request"
    grant = await identity.post("/v1/tokens", data={"grant_type": "password", "username": "x"})
    assert grant.status_code == 400 and grant.json()["code"] == "unsupported_grant_type"
    customer = await login(identity, (await register(identity, new_email()))["email"])
    refused = await identity.post(
        "/v1/clients",
        json={"client_id": "sneaky-client", "scopes": ["admin"]},
        headers=bearer(customer["access_token"]),
    )
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    anonymous = await identity.post("/v1/signing-keys/rotations")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"


async def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(
    identity: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await admin_token(identity, platform)
    email = new_email()
    await register(identity, email)
    before = await login(identity, email)
    old_kid = kid_of(before["access_token"])
    verifier = verifier_for(platform)
    await verifier.verify(before["access_token"])
    fetches = verifier.fetch_count

    rotated = await identity.post("/v1/signing-keys/rotations", headers=bearer(admin))
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid
    published = [key["kid"] for key in (await identity.get("/.well-known/jwks.json")).json()["keys"]]
    assert published[0] == new_kid and old_kid in published, "the new key is published before it signs"

    after = await signed_with(identity, email, new_kid)
    assert (await verifier.verify(after["access_token"])).subject == (
        await verifier.verify(before["access_token"])
    ).subject
    assert verifier.fetch_count == fetches + 1, "an unknown kid triggers exactly one JWKS fetch"
    assert (await verifier_for(platform).verify(before["access_token"])).scopes, "old tokens verify until they expire"
    assert (await identity.get("/v1/me", headers=bearer(admin))).status_code == 200, "the admin token is still good"

    keys = (await identity.get("/v1/signing-keys", headers=bearer(admin))).json()
    old = next(key for key in keys if key["kid"] == old_kid)
    assert old["retired_at"] is not None and old["published_until"] is not None

    completed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ledgerline.cli", "identity", "rotate-keys"],
        env=platform.env("identity"),
        capture_output=True,
        text=True,
        check=True,
    )
    cli_kid = dict(line.split("=", 1) for line in completed.stdout.splitlines())["kid"]
    assert cli_kid not in (new_kid, old_kid)
    await signed_with(identity, email, cli_kid)


async def announced(platform: Platform, user_id: str) -> bool:
    records = await read_topic(platform.infra.kafka.bootstrap_servers, topics.IDENTITY_EVENTS)
    events = [decode(key=r.key, value=r.value, headers=list(r.headers)) for r in records]
    return any(event.type == USER_REGISTERED and event.data == {"user_id": user_id} for event in events)


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def signed_with(http: httpx.AsyncClient, email: str, kid: str) -> dict[str, Any]:
    """Logs in until a token carries `kid` (a rotated key signs after the activation delay)."""

    async def attempt() -> dict[str, Any] | None:
        tokens = await login(http, email)
        return tokens if kid_of(tokens["access_token"]) == kid else None

    tokens = await eventually(attempt, timeout_s=15)
    assert tokens is not None, f"no token signed with {kid}"
    return dict(tokens)
