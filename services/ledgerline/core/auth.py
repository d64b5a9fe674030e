"""Access tokens checked where they arrive: signatures verified locally against the identity
service's JWKS, kept in memory and fetched again only when a token names an unknown `kid`
(at most once per `refresh_interval_min_s`) or the cached set is older than `cache_max_age_s`.

Routes take `CurrentPrincipal` and, where a scope is needed, `Depends(require_scopes("admin"))`;
the `admin` scope passes every scope check. A service installs its verifier once with
`install_token_verifier(app, verifier)`; `verifier_from_settings` builds the usual one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

import httpx
import jwt
from cachetools import LRUCache, TTLCache
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ledgerline.core import scopes
from ledgerline.core.problems import Problem
from ledgerline.core.rate_limits import Bucket, RateLimiter
from ledgerline.core.settings import TokenSettings

ALGORITHMS = ("EdDSA", "ES256")
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
TOKEN_LENGTH_MAX = 8 * 1024
VERIFIED_TOKENS_MAX = 10_000
JWKS_KEYS_MAX = 100
REVOKED_SESSION_PREFIX = "ledgerline:auth:revoked-session:"
# Present while Redis holds every revoked session the identity database knows: a Redis that lost
# its data comes back without it, and the identity service then writes the set back.
REVOKED_SESSIONS_WHOLE_KEY = "ledgerline:auth:revoked-sessions-whole"
JWKS_PATH = "/.well-known/jwks.json"
JWKS_FETCH_TIMEOUT_S = 5.0
REVOCATION_CACHE_SESSIONS_MAX = 100_000
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for: a user id, or a service client id, and its scopes."""

    subject: str
    scopes: frozenset[str]
    token_id: str | None
    session_id: str | None
    expires_at: int

    def has_scopes(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes

    @property
    def is_admin(self) -> bool:
        return scopes.ADMIN in self.scopes

    def may_see(self, owner_id: str | None) -> bool:
        """Whether a resource of `owner_id` exists for this principal (`None`: no such resource)."""
        if owner_id is None:
            return False
        return owner_id == self.subject or self.is_admin or scopes.WALLETS_READ_ANY in self.scopes

    def owns(self, owner_id: str | None) -> bool:
        """Money moves only by its owner: an operator freezes a wallet, it does not spend from it."""
        return owner_id is not None and owner_id == self.subject


class TokenRejected(Exception):
    """A token that must not be trusted; `reason` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwksSource(Protocol):
    async def fetch(self) -> dict[str, Any]: ...


class HttpJwksSource:
    """The identity service's `/.well-known/jwks.json` over HTTP, with an explicit timeout."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self._url = url
        self._timeout_s = timeout_s

    async def fetch(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=self._timeout_s) as http:
            response = await http.get(self._url)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document


class RevokedSessions:
    """Revoked refresh-token families (`sid` claims) in Redis, expiring with the family.

    The identity database is the record; this is the fast copy every service can consult. A
    Redis outage does not lock everyone out: lookups then answer "not revoked", and access
    tokens stay short-lived. With `cache_s`, a "not revoked" answer is reused that long, so a
    busy session costs one Redis round trip per `cache_s`, not one per request.
    """

    def __init__(self, redis: Redis, *, cache_s: float = 0.0) -> None:
        self._redis = redis
        self._not_revoked: TTLCache[str, bool] | None = (
            TTLCache(maxsize=REVOCATION_CACHE_SESSIONS_MAX, ttl=cache_s) if cache_s > 0 else None
        )

    async def revoke(self, session_id: str, until: datetime) -> None:
        try:
            await self._redis.set(REVOKED_SESSION_PREFIX + session_id, "1", exat=int(until.timestamp()) + 1)
        except RedisError:
            _log.warning("could not record revoked session %s in Redis; the database still refuses it", session_id)

    async def whole(self) -> bool:
        """Whether Redis still has every revocation written back since it last lost its data."""
        return bool(await self._redis.exists(REVOKED_SESSIONS_WHOLE_KEY))

    async def mark_whole(self, whole: bool) -> None:
        if whole:
            await self._redis.set(REVOKED_SESSIONS_WHOLE_KEY, "1")
        else:
            await self._redis.delete(REVOKED_SESSIONS_WHOLE_KEY)

    async def restore(self, sessions: Sequence[tuple[str, datetime]]) -> None:
        """Write back revoked sessions, each expiring with its family, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id, until in sessions:
                pipe.set(REVOKED_SESSION_PREFIX + session_id, "1", exat=int(until.timestamp()) + 1)
            await pipe.execute()

    async def is_revoked(self, session_id: str) -> bool:
        if self._not_revoked is not None and session_id in self._not_revoked:
            return False
        try:
            revoked = bool(await self._redis.exists(REVOKED_SESSION_PREFIX + session_id))
        except RedisError:
            _log.warning("revocation lookup for session %s failed; relying on the token lifetime", session_id)
            return False
        if not revoked and self._not_revoked is not None:
            self._not_revoked[session_id] = False
        return revoked


@dataclass(frozen=True, slots=True)
class VerifierLimits:
    refresh_interval_min_s: float = 10.0
    cache_max_age_s: float = 300.0
    leeway_s: int = 5


class TokenVerifier:
    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        limits: VerifierLimits = VerifierLimits(),
        revoked_sessions: RevokedSessions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._limits = limits
        self._revoked_sessions = revoked_sessions
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        # Tokens whose signature and claims were checked: (kid, claims) by the token's SHA-256.
        # A client sends the same token for minutes, and an Ed25519 check per request was a fifth
        # of a busy service's CPU. An entry is used only while its key is still published and its
        # `exp` (with leeway) has not passed, which is exactly when checking it again would pass.
        self._verified: LRUCache[bytes, tuple[str, dict[str, Any]]] = LRUCache(maxsize=VERIFIED_TOKENS_MAX)
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def reload(self) -> None:
        """Fetch the key set now, for a process that knows it just changed (a key rotation)."""
        await self._refresh(only_if_stale=False)

    async def verify(self, token: str) -> Principal:
        if len(token) > TOKEN_LENGTH_MAX:
            raise TokenRejected("token too long")
        claims = await self._checked_claims(token)
        session_id = claims.get("sid")
        if session_id and self._revoked_sessions and await self._revoked_sessions.is_revoked(str(session_id)):
            raise TokenRejected("session revoked")
        return Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            token_id=claims.get("jti"),
            session_id=str(session_id) if session_id else None,
            expires_at=int(claims["exp"]),
        )

    async def _checked_claims(self, token: str) -> dict[str, Any]:
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None and self._still_valid(*known):
            return known[1]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise TokenRejected("malformed token") from None
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("token names no signing key")
        claims = self._decode(token, await self._key(kid))
        self._verified[digest] = (kid, claims)
        return claims

    def _still_valid(self, kid: str, claims: dict[str, Any]) -> bool:
        """A token checked before passes again while its key is published and it has not expired."""
        fresh_keys = kid in self._keys and not self._stale()
        return fresh_keys and time.time() < int(claims["exp"]) + self._limits.leeway_s

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._limits.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("token from another issuer") from None
        except jwt.PyJWTError:
            raise TokenRejected("token signature or claims are not valid") from None

    async def _key(self, kid: str) -> jwt.PyJWK:
        if self._stale():
            await self._refresh(only_if_stale=True)
        if kid not in self._keys and self._may_refresh():
            await self._refresh(only_if_stale=False, wanted_kid=kid)
        key = self._keys.get(kid)
        if key is None:
            raise TokenRejected("token signed by an unknown key")
        return key

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._limits.cache_max_age_s

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._limits.refresh_interval_min_s

    async def _refresh(self, *, only_if_stale: bool, wanted_kid: str | None = None) -> None:
        """Fetch the key set once for every waiter; a failed fetch keeps the keys already known."""
        async with self._lock:
            if only_if_stale and not self._stale():
                return
            if wanted_kid is not None and (wanted_kid in self._keys or not self._may_refresh()):
                return
            self.fetch_count += 1
            try:
                document = await self._source.fetch()
                self._keys = _usable_keys(document)
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
                _log.warning("JWKS fetch failed (%s); keeping %d known keys", error, len(self._keys))
            self._fetched_at = self._clock()


def _usable_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    entries = document.get("keys")
    if not isinstance(entries, list) or len(entries) > JWKS_KEYS_MAX:
        raise ValueError("JWKS has no key list or too many keys")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if entry.get("use", "sig") != "sig" or entry.get("alg") not in ALGORITHMS or not entry.get("kid"):
            continue
        keys[entry["kid"]] = jwt.PyJWK.from_dict(entry)
    return keys


def install_token_verifier(app: FastAPI, verifier: TokenVerifier) -> None:
    app.state.token_verifier = verifier


def install_principal_rate_limit(app: FastAPI, limiter: RateLimiter, bucket: Bucket) -> None:
    """Every verified principal gets `bucket` per route; the platform's own services are exempt,
    as their load follows from what customers are allowed to send."""
    app.state.rate_limiter = limiter
    app.state.principal_bucket = bucket


def verifier_from_settings(settings: TokenSettings, redis: Redis | None) -> TokenVerifier:
    """The identity service's JWKS over HTTP; revocations from Redis where the service has it."""
    return TokenVerifier(
        HttpJwksSource(settings.auth_identity_url.rstrip("/") + JWKS_PATH, timeout_s=JWKS_FETCH_TIMEOUT_S),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        limits=VerifierLimits(
            refresh_interval_min_s=settings.auth_jwks_refresh_interval_min_s,
            cache_max_age_s=settings.auth_jwks_cache_max_age_s,
        ),
        revoked_sessions=RevokedSessions(redis, cache_s=settings.auth_revocation_cache_s) if redis else None,
    )


def _unauthorized(reason: str, error: str | None = "invalid_token") -> Problem:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return Problem(401, "unauthorized", "Authentication required", reason, headers={"WWW-Authenticate": challenge})


# Declares the Bearer scheme in OpenAPI (the docs' Authorize button); refusals stay ours (problem+json).
_bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", description="An access token from the identity service")


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or not credentials.credentials.strip():
        raise _unauthorized("send an access token as `Authorization: Bearer <token>`", error=None)
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = await verifier.verify(credentials.credentials.strip())
    except TokenRejected as rejected:
        raise _unauthorized(rejected.reason) from None
    await _limit(request, principal)
    return principal


async def _limit(request: Request, principal: Principal) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or scopes.WALLETS_READ_ANY in principal.scopes:
        return
    # The route's template, not the URL: one bucket per route, whatever ids a caller cycles through.
    route = getattr(request.scope.get("route"), "path", request.url.path)
    key = f"principal:{principal.subject}:{request.method} {route}"
    request.state.rate_limit = await limiter.enforce(key, request.app.state.principal_bucket)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_scopes(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that answers 403 `insufficient_scope` unless the token holds every scope (or `admin`)."""
    needed: Sequence[str] = tuple(scopes)

    async def check(principal: CurrentPrincipal) -> Principal:
        if not (principal.has_scopes(*needed) or principal.is_admin):
            raise Problem(
                403,
                "insufficient_scope",
                "Token lacks a required scope",
                f"requires: {' '.join(needed)}",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'},
            )
        return principal

    return check


AdminPrincipal = Annotated[Principal, Depends(require_scopes(scopes.ADMIN))]
