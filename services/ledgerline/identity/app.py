"""Identity service: users, sessions (refresh-token families), signing keys and service clients."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ledgerline.core.auth import TokenVerifier
from ledgerline.core.runtime import ServiceRuntime, build_service_app
from ledgerline.identity import api
from ledgerline.identity.settings import IdentitySettings
from ledgerline.identity.wiring import IdentityCollaborators, bootstrap


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    app = build_service_app(
        runtime=ServiceRuntime("identity", settings),
        bootstrap=bootstrap,
        title="Ledgerline identity service",
        description="Registration, login, refresh-token rotation, client credentials and the JWKS.",
        routers=[api.router],
        token_verifier=_own_verifier,
        workers=lambda collaborators: [collaborators.revocations.run],
    )
    _state_registration_policy(app, settings)
    return app


def _own_verifier(collaborators: IdentityCollaborators) -> TokenVerifier:
    return collaborators.token_verifier


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
