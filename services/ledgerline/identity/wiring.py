"""The identity service's collaborators, made once at startup, and their route dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from ledgerline.core.auth import RevokedSessions, TokenVerifier, VerifierLimits
from ledgerline.core.http import collaborators_of
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.identity.revocations import RevocationRestorer
from ledgerline.identity.service import IdentityService, utc_now
from ledgerline.identity.settings import IdentitySettings

# The service reads its own keys from its database, so refreshing on an unknown kid costs one
# small query; the bound still stops a stream of made-up kids from becoming a query stream.
LOCAL_JWKS_REFRESH_INTERVAL_MIN_S = 1.0


class LocalJwksSource:
    """The identity service's own JWKS, read from its database instead of over HTTP."""

    def __init__(self, identity: IdentityService) -> None:
        self._identity = identity

    async def fetch(self) -> dict[str, Any]:
        return await self._identity.jwks()


@dataclass(frozen=True, slots=True)
class IdentityCollaborators:
    identity: IdentityService
    # Checks this service's own tokens against the keys in its database.
    token_verifier: TokenVerifier
    # Writes the revoked sessions back to Redis when it comes back without them.
    revocations: RevocationRestorer


async def bootstrap(runtime: ServiceRuntime[IdentitySettings]) -> IdentityCollaborators:
    settings = runtime.settings
    identity = IdentityService(settings, runtime.engine, RevokedSessions(runtime.redis))
    await identity.ensure_signing_key()
    verifier = TokenVerifier(
        LocalJwksSource(identity),
        issuer=settings.issuer,
        audience=settings.audience,
        limits=VerifierLimits(
            refresh_interval_min_s=LOCAL_JWKS_REFRESH_INTERVAL_MIN_S, cache_max_age_s=settings.jwks_cache_max_age_s
        ),
        revoked_sessions=RevokedSessions(runtime.redis),
    )
    revocations = RevocationRestorer(
        runtime.engine,
        RevokedSessions(runtime.redis),
        interval_s=settings.revocation_restore_interval_s,
        clock=utc_now,
    )
    return IdentityCollaborators(identity, verifier, revocations)


IdentityCollaboratorsDep = Annotated[IdentityCollaborators, Depends(collaborators_of(IdentityCollaborators))]


async def get_identity(collaborators: IdentityCollaboratorsDep) -> IdentityService:
    return collaborators.identity


IdentityDep = Annotated[IdentityService, Depends(get_identity)]
