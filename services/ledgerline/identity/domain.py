"""Identity rules as plain values: who may hold which scopes, what an access token claims, when a
refresh token rotates or betrays a stolen family, and which signing keys sign and verify.

No I/O here: hashing, signing and storage live in the adapters; this module decides.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ledgerline.core import scopes

ADMIN_SCOPE = scopes.ADMIN
# Every scope a token can carry; a request for anything else is refused, never silently dropped.
KNOWN_SCOPES = frozenset(
    {
        "wallets:read",
        "wallets:write",
        "payments:read",
        "payments:write",
        "ledger:read",
        "notifications:read",
        "notifications:write",
        scopes.REWARDS_READ,
        ADMIN_SCOPE,
        scopes.WALLETS_READ_ANY,
        scopes.BANK_WRITE,
        scopes.REWARDS_WRITE,
    }
)
# RFC 6749 3.3: scope names separated by single spaces; here only the names above (each only
# letters, `:` and `-`, so none needs escaping in this or an OpenAPI document's pattern).
assert all(re.fullmatch(r"[a-z:-]+", name) for name in KNOWN_SCOPES)
_SCOPE_NAME = "(?:" + "|".join(sorted(KNOWN_SCOPES)) + ")"
SCOPE_PATTERN = f"^(?:{_SCOPE_NAME}(?: {_SCOPE_NAME})*)?$"
# What a registered customer may do with what they own; ownership itself is checked per route.
CUSTOMER_SCOPES = (
    "wallets:read",
    "wallets:write",
    "payments:read",
    "payments:write",
    "ledger:read",
    "notifications:read",
    "notifications:write",
    scopes.REWARDS_READ,
)


class IdentityError(Exception):
    """A refusal with a stable code; the API maps each code to one status."""

    code = "identity_error"


class InvalidCredentials(IdentityError):
    code = "invalid_credentials"


class PasswordRejected(IdentityError):
    code = "password_rejected"


class EmailTaken(IdentityError):
    code = "email_taken"


class UnknownScope(IdentityError):
    code = "unknown_scope"


class ScopeNotAllowed(IdentityError):
    code = "scope_not_allowed"


class RefreshRefused(IdentityError):
    code = "invalid_grant"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    length_min: int
    length_max: int


def check_password(password: str, policy: PasswordPolicy) -> None:
    """Length bounds only (NIST SP 800-63B): composition rules make passwords weaker, not stronger."""
    if len(password) < policy.length_min:
        raise PasswordRejected(f"a password has at least {policy.length_min} characters")
    if len(password) > policy.length_max:
        raise PasswordRejected(f"a password has at most {policy.length_max} characters")


def normalize_email(email: str) -> str:
    """One account per address whatever its case: the whole address is compared lower-cased."""
    return email.strip().lower()


def parse_scopes(scope: str | None) -> frozenset[str]:
    """An OAuth `scope` parameter (space-separated) as a set, refusing names nobody defined."""
    requested = frozenset((scope or "").split())
    unknown = requested - KNOWN_SCOPES
    if unknown:
        raise UnknownScope(f"unknown scope: {' '.join(sorted(unknown))}")
    if scope is not None and not re.fullmatch(SCOPE_PATTERN, scope):
        raise UnknownScope("scope names are separated by single spaces")
    return requested


def grant_scopes(requested: frozenset[str], allowed: Iterable[str]) -> tuple[str, ...]:
    """The scopes a token gets: all allowed ones when none were asked for, else exactly the request."""
    allowed_set = frozenset(allowed)
    if not requested:
        return tuple(sorted(allowed_set))
    refused = requested - allowed_set
    if refused:
        raise ScopeNotAllowed(f"not allowed: {' '.join(sorted(refused))}")
    return tuple(sorted(requested))


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta
    family_lifetime: timedelta


def access_claims(
    policy: TokenPolicy,
    *,
    subject: str,
    scopes: Sequence[str],
    now: datetime,
    token_id: uuid.UUID,
    session_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The registered claims (RFC 7519) and the OAuth `scope` claim (RFC 8693) of one access token."""
    issued_at = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": policy.issuer,
        "aud": policy.audience,
        "sub": subject,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + int(policy.access_ttl.total_seconds()),
        "jti": str(token_id),
        "scope": " ".join(scopes),
    }
    if session_id is not None:
        # The refresh-token family this token came from, so a revoked family can be refused early.
        claims["sid"] = str(session_id)
    return claims


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: uuid.UUID
    family_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None


def start_family(policy: TokenPolicy, *, user_id: uuid.UUID, now: datetime) -> RefreshFamily:
    return RefreshFamily(id=uuid.uuid4(), user_id=user_id, created_at=now, expires_at=now + policy.family_lifetime)


def issue_refresh(policy: TokenPolicy, family: RefreshFamily, *, now: datetime) -> RefreshToken:
    """A refresh token never outlives its family."""
    expires_at = min(now + policy.refresh_ttl, family.expires_at)
    return RefreshToken(id=uuid.uuid4(), family_id=family.id, created_at=now, expires_at=expires_at)


class RefreshOutcome(enum.Enum):
    ROTATE = "rotate"
    # The token was already used: someone else holds a copy, so the whole family is burnt.
    REUSE_DETECTED = "reuse_detected"
    EXPIRED = "expired"
    FAMILY_REVOKED = "family_revoked"


def judge_refresh(token: RefreshToken, family: RefreshFamily, *, now: datetime) -> RefreshOutcome:
    if token.family_id != family.id:
        raise ValueError(f"token {token.id} is not of family {family.id}")
    if family.revoked_at is not None:
        return RefreshOutcome.FAMILY_REVOKED
    if token.rotated_at is not None:
        return RefreshOutcome.REUSE_DETECTED
    if now >= token.expires_at or now >= family.expires_at:
        return RefreshOutcome.EXPIRED
    return RefreshOutcome.ROTATE


def rotate(token: RefreshToken, *, now: datetime) -> RefreshToken:
    return replace(token, rotated_at=now)


def revoke(family: RefreshFamily, *, now: datetime) -> RefreshFamily:
    return family if family.revoked_at is not None else replace(family, revoked_at=now)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key pair's public half and its schedule; the private half never leaves the adapters.

    A key is published from `created_at` but signs only from `activates_at`, so verifiers that
    cached the key set a moment before the rotation learn the new key before any token uses it.
    """

    kid: str
    algorithm: str
    public_jwk: dict[str, Any]
    created_at: datetime
    activates_at: datetime
    # From this moment the key no longer signs; it still verifies until `published_until`.
    retired_at: datetime | None = None
    published_until: datetime | None = None

    def signs_at(self, now: datetime) -> bool:
        return self.activates_at <= now and (self.retired_at is None or now < self.retired_at)

    def published_at(self, now: datetime) -> bool:
        return self.published_until is None or now < self.published_until


def signing_key(keys: Iterable[SigningKey], now: datetime) -> SigningKey | None:
    """The most recently activated key that signs now; older keys only verify."""
    candidates = [key for key in keys if key.signs_at(now)]
    return max(candidates, key=lambda key: key.activates_at, default=None)


def published_keys(keys: Iterable[SigningKey], now: datetime) -> list[SigningKey]:
    """What the JWKS lists: every key that signs, is about to, or may still verify a live token."""
    return sorted((key for key in keys if key.published_at(now)), key=lambda key: key.activates_at, reverse=True)


def retire_for_rotation(keys: Iterable[SigningKey], *, activation: datetime, overlap: timedelta) -> list[SigningKey]:
    """The keys that stop signing when the next key activates, each kept published for `overlap`.

    `overlap` must cover the access-token lifetime, so a token signed a moment before the
    hand-over still verifies until it expires.
    """
    return [
        replace(key, retired_at=activation, published_until=activation + overlap)
        for key in keys
        if key.retired_at is None
    ]


def jwks_document(keys: Sequence[SigningKey]) -> dict[str, Any]:
    """RFC 7517 key set; each JWK names its `kid`, `alg` and `use` so verifiers pick without guessing."""
    return {"keys": [{**key.public_jwk, "kid": key.kid, "alg": key.algorithm, "use": "sig"} for key in keys]}


@dataclass(frozen=True, slots=True)
class ServiceClient:
    client_id: str
    scopes: tuple[str, ...]
    disabled_at: datetime | None = None


def check_client_scopes(scopes: Iterable[str], *, scopes_max: int) -> tuple[str, ...]:
    chosen = tuple(sorted(set(scopes)))
    if not chosen:
        raise UnknownScope("a client needs at least one scope")
    if len(chosen) > scopes_max:
        raise UnknownScope(f"a client holds at most {scopes_max} scopes")
    unknown = set(chosen) - KNOWN_SCOPES
    if unknown:
        raise UnknownScope(f"unknown scope: {' '.join(sorted(unknown))}")
    return chosen
