"""The shared token verifier accepts only well-signed tokens for its issuer and audience that have
not expired, refetches the JWKS on an unknown kid no more often than its bound, and turns scopes
into 401/403 problems through `CurrentPrincipal` and `require_scopes`."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from jwt.algorithms import OKPAlgorithm

from ledgerline.core.auth import (
    CurrentPrincipal,
    Principal,
    TokenRejected,
    TokenVerifier,
    VerifierLimits,
    install_token_verifier,
    require_scopes,
)
from ledgerline.core.problems import install_problem_handlers

ISSUER, AUDIENCE = "https://identity.test", "ledgerline-api"


class KeySet:
    """A JWKS source backed by keys made here: a stand-in for the identity service's endpoint."""

    def __init__(self) -> None:
        self.private: dict[str, Ed25519PrivateKey] = {}
        self.published: set[str] = set()

    def add(self, kid: str, *, publish: bool = True) -> None:
        self.private[kid] = Ed25519PrivateKey.generate()
        if publish:
            self.published.add(kid)

    async def fetch(self) -> dict[str, Any]:
        keys = []
        for kid in sorted(self.published):
            jwk = json.loads(OKPAlgorithm.to_jwk(self.private[kid].public_key()))
            keys.append({**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": keys}

    def token(self, kid: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300, "scope": "a:read"}
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, self.private[kid], algorithm="EdDSA", headers={"kid": kid})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(keys: KeySet, clock: Clock, **limits: Any) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, limits=VerifierLimits(**limits), clock=clock)


async def test_valid_token_gives_the_principal() -> None:
    keys, clock = KeySet(), Clock()
    keys.add("k1")
    principal = await verifier(keys, clock).verify(keys.token("k1", scope="a:read b:write", sid="s-1"))
    assert principal.subject == "user-1"
    assert principal.scopes == {"a:read", "b:write"} and principal.session_id == "s-1"
    assert principal.has_scopes("a:read") and not principal.has_scopes("admin")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "token expired"),
        ({"aud": "another-api"}, "token is for another audience"),
        ({"iss": "https://elsewhere.test"}, "token from another issuer"),
        ({"sub": None}, "token signature or claims are not valid"),
        ({"exp": None}, "token signature or claims are not valid"),
    ],
)
async def test_claims_are_checked(overrides: dict[str, Any], reason: str) -> None:
    keys, clock = KeySet(), Clock()
    keys.add("k1")
    with pytest.raises(TokenRejected) as rejected:
        await verifier(keys, clock).verify(keys.token("k1", **overrides))
    assert rejected.value.reason == reason


async def test_a_forged_signature_and_a_token_without_kid_are_refused() -> None:
    keys, clock = KeySet(), Clock()
    keys.add("k1")
    forger = KeySet()
    forger.add("k1")
    checker = verifier(keys, clock)
    with pytest.raises(TokenRejected, match="signature"):
        await checker.verify(forger.token("k1"))
    unsigned_kid = jwt.encode({"sub": "x"}, keys.private["k1"], algorithm="EdDSA")
    with pytest.raises(TokenRejected, match="names no signing key"):
        await checker.verify(unsigned_kid)
    with pytest.raises(TokenRejected, match="malformed"):
        await checker.verify("not-a-jwt")
    with pytest.raises(TokenRejected, match="too long"):
        await checker.verify("x" * 9000)


async def test_unknown_kid_refetches_within_the_bound_only() -> None:
    keys, clock = KeySet(), Clock()
    keys.add("k1")
    checker = verifier(keys, clock, refresh_interval_min_s=10, cache_max_age_s=300)
    await checker.verify(keys.token("k1"))
    assert checker.fetch_count == 1
    keys.add("stranger", publish=False)
    for _ in range(5):
        with pytest.raises(TokenRejected, match="unknown key"):
            await checker.verify(keys.token("stranger"))
    assert checker.fetch_count == 1, "an unknown kid inside the interval must not refetch"
    keys.add("k2")
    clock.now += 10
    await checker.verify(keys.token("k2"))
    assert checker.fetch_count == 2
    await checker.verify(keys.token("k1"))
    assert checker.fetch_count == 2, "a known kid is served from the cache"


async def test_a_stale_cache_drops_keys_the_issuer_stopped_publishing() -> None:
    keys, clock = KeySet(), Clock()
    keys.add("k1")
    checker = verifier(keys, clock, refresh_interval_min_s=10, cache_max_age_s=60)
    await checker.verify(keys.token("k1"))
    keys.published.discard("k1")
    clock.now += 60
    with pytest.raises(TokenRejected, match="unknown key"):
        await checker.verify(keys.token("k1"))


async def test_a_token_checked_before_passes_from_memory_only_while_it_would_pass_again() -> None:
    keys, clock = KeySet(), Clock()
    keys.add("k1")
    checker = verifier(keys, clock, refresh_interval_min_s=10, cache_max_age_s=60, leeway_s=0)
    expires = int(time.time()) + 1
    short = keys.token("k1", exp=expires)
    assert (await checker.verify(short)).subject == "user-1"
    assert (await checker.verify(short)).subject == "user-1"  # From memory.
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(TokenRejected, match="expired"):
        await checker.verify(short)
    lasting = keys.token("k1")
    await checker.verify(lasting)
    keys.published.discard("k1")
    clock.now += 60  # The key set is refetched: the withdrawn key no longer vouches for the token.
    with pytest.raises(TokenRejected, match="unknown key"):
        await checker.verify(lasting)


async def test_current_principal_and_scope_requirement_answer_problems() -> None:
    keys, clock = KeySet(), Clock()
    keys.add("k1")
    app = FastAPI()
    install_problem_handlers(app)
    install_token_verifier(app, verifier(keys, clock))

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"sub": principal.subject}

    @app.get("/admin")
    async def admin(principal: Principal = Depends(require_scopes("admin"))) -> dict[str, str]:
        return {"sub": principal.subject}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        bearer = {"Authorization": f"Bearer {keys.token('k1')}"}
        assert (await http.get("/me", headers=bearer)).json() == {"sub": "user-1"}
        missing = await http.get("/me")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        assert missing.headers["content-type"] == "application/problem+json"
        expired = await http.get("/me", headers={"Authorization": f"Bearer {keys.token('k1', exp=1)}"})
        assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
        refused = await http.get("/admin", headers=bearer)
        assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
        admin_token = keys.token("k1", scope="admin")
        assert (await http.get("/admin", headers={"Authorization": f"Bearer {admin_token}"})).status_code == 200
