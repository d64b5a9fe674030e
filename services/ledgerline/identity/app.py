"""Identity service: users, sessions (refresh-token families), signing keys and service clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ledgerline.core.auth import RevokedSessions, TokenVerifier, VerifierLimits, install_token_verifier
from ledgerline.core.runtime import ServiceRuntime, build_service_app
from ledgerline.identity import api
from ledgerline.identity.service import IdentityService
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


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    runtime = ServiceRuntime("identity", settings)
    app = build_service_app(
        runtime=runtime,
        title="Ledgerline identity service",
        description="Registration, login, refresh-token rotation, client credentials and the JWKS.",
        routers=[api.router],
    )
    _state_registration_policy(app, settings)
    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        # The runtime connects first; the service layer needs its engine and Redis.
        async with runtime_lifespan(app) as state:
            identity = IdentityService(settings, runtime.engine, RevokedSessions(runtime.redis))
            await identity.ensure_signing_key()
            app.state.identity = identity
            limits = VerifierLimits(
                refresh_interval_min_s=LOCAL_JWKS_REFRESH_INTERVAL_MIN_S,
                cache_max_age_s=settings.jwks_cache_max_age_s,
            )
            verifier = TokenVerifier(
                LocalJwksSource(identity),
                issuer=settings.issuer,
                audience=settings.audience,
                limits=limits,
                revoked_sessions=RevokedSessions(runtime.redis),
            )
            install_token_verifier(app, verifier)
            yield state

    app.router.lifespan_context = lifespan
    return app


def _state_registration_policy(app: FastAPI, settings: IdentitySettings) -> None:
    """The registration schema carries the password and address bounds this service enforces."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        fields = document["components"]["schemas"][api.Registration.__name__]["properties"]
        fields["password"].update(minLength=settings.password_length_min, maxLength=settings.password_length_max)
        fields["email"]["maxLength"] = min(
            fields["email"].get("maxLength", settings.email_length_max), settings.email_length_max
        )
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise.
