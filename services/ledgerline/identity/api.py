"""Identity HTTP API: registration, login, refresh, logout, client credentials, the JWKS and
the admin routes for signing keys and service clients. Routes parse, call the service layer and
map refusals to problem+json; OAuth error codes follow RFC 6749 section 5.2."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledgerline.core.auth import CurrentPrincipal, Principal, require_scopes
from ledgerline.core.http import EmailAddress
from ledgerline.core.openapi import RATE_LIMITED, DeclaredProblem, post_creating, problem_responses
from ledgerline.core.problems import Problem
from ledgerline.core.rate_limits import Bucket, RateLimiter
from ledgerline.identity import domain
from ledgerline.identity.credentials import REFRESH_TOKEN_LENGTH_MAX
from ledgerline.identity.service import IssuedTokens
from ledgerline.identity.wiring import IdentityCollaboratorsDep, IdentityDep

router = APIRouter(tags=["identity"])
# Hard caps on what the parser accepts at all; the settings hold the policy within them.
PASSWORD_CHARS_MAX = 1024
CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,62}$"
FORM_FIELDS_MAX = 10
AdminPrincipal = Annotated[Principal, Depends(require_scopes(domain.ADMIN_SCOPE))]
# Refusals only some routes make; the document shows them (core/openapi.py).
PASSWORD_REJECTED = DeclaredProblem(
    422, "password_rejected", "Request refused", "a password has at least 12 characters"
)
EMAIL_TAKEN = DeclaredProblem(409, "email_taken", "Request refused", "an account with this address exists")
INVALID_CREDENTIALS = DeclaredProblem(
    401, "invalid_credentials", "Request refused", "the address or the password is wrong"
)
INVALID_GRANT = DeclaredProblem(400, "invalid_grant", "Request refused", "refresh token not valid")
INVALID_REQUEST = DeclaredProblem(400, "invalid_request", "Request refused")
UNSUPPORTED_GRANT_TYPE = DeclaredProblem(400, "unsupported_grant_type", "Request refused")
INVALID_SCOPE = DeclaredProblem(400, "invalid_scope", "Request refused")
INVALID_CLIENT = DeclaredProblem(401, "invalid_client", "Request refused", "client authentication failed")
BODY_TOO_LARGE = DeclaredProblem(413, "body_too_large", "Request body too large")
UNKNOWN_SCOPE = DeclaredProblem(422, "unknown_scope", "Request refused")
CLIENT_EXISTS = DeclaredProblem(409, "client_exists", "Request refused")


def _address_bucket(request: Request, identity: IdentityDep) -> tuple[str, Bucket]:
    """The client address's bucket on this route, and its size."""
    bucket = Bucket(identity.settings.address_rate_limit_capacity, identity.settings.address_rate_limit_refill_per_s)
    address = request.client.host if request.client else "unknown"
    route = getattr(request.scope.get("route"), "path", request.url.path)
    return f"address:{address}:{route}", bucket


async def limit_by_address(request: Request, identity: IdentityDep) -> None:
    """One bucket per client address and route: password guessing from one place gets 429."""
    limiter: RateLimiter = request.app.state.rate_limiter
    request.state.rate_limit = await limiter.enforce(*_address_bucket(request, identity))


AddressLimited = Depends(limit_by_address)


class Credentials(BaseModel):
    email: EmailAddress = Field(examples=["alice@example.com"])
    password: str = Field(min_length=1, max_length=PASSWORD_CHARS_MAX)


class Registration(Credentials):
    """The document states the password and address bounds of the settings (see app.py)."""


class UserView(BaseModel):
    id: uuid.UUID
    email: str
    scopes: list[str]


class TokenView(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    scope: str
    refresh_token: str | None = None

    @classmethod
    def of(cls, issued: IssuedTokens) -> TokenView:
        return cls(
            access_token=issued.access_token,
            expires_in=issued.expires_in_s,
            scope=" ".join(issued.scopes),
            refresh_token=issued.refresh_token,
        )


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=REFRESH_TOKEN_LENGTH_MAX)


def _scope_syntax(schema: dict[str, Any]) -> None:
    """Documents the scope syntax the service checks (known names, single spaces) on the string
    branch; the service checks it itself, to answer `invalid_scope` rather than a shape error."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["pattern"] = domain.SCOPE_PATTERN


class ClientCredentialsRequest(BaseModel):
    """RFC 6749 section 3.2: parameters the server does not know are ignored, within the field cap."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"maxProperties": FORM_FIELDS_MAX})
    __pydantic_extra__: dict[str, str] = Field(init=False)

    grant_type: Literal["client_credentials"]
    client_id: str | None = Field(None, max_length=64)
    client_secret: str | None = Field(None, max_length=256)
    scope: str | None = Field(None, max_length=512, json_schema_extra=_scope_syntax)


class NewClient(BaseModel):
    client_id: str = Field(pattern=CLIENT_ID_PATTERN, examples=["payment-service"])
    scopes: list[str] = Field(min_length=1, max_length=64, examples=[["ledger:read"]])


class ClientSecretView(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown once; only its hash is kept")
    scopes: list[str]


class SigningKeyView(BaseModel):
    kid: str
    algorithm: str
    created_at: str
    activates_at: str
    retired_at: str | None
    published_until: str | None

    @classmethod
    def of(cls, key: domain.SigningKey) -> SigningKeyView:
        return cls(
            kid=key.kid,
            algorithm=key.algorithm,
            created_at=key.created_at.isoformat(),
            activates_at=key.activates_at.isoformat(),
            retired_at=key.retired_at.isoformat() if key.retired_at else None,
            published_until=key.published_until.isoformat() if key.published_until else None,
        )


class PrincipalView(BaseModel):
    subject: str
    scopes: list[str]
    session_id: str | None


def _refusal(error: domain.IdentityError, *, status: int = 400, code: str | None = None) -> Problem:
    return Problem(status, code or error.code, "Request refused", str(error))


@post_creating(
    router, "/v1/registrations", UserView, PASSWORD_REJECTED, EMAIL_TAKEN, RATE_LIMITED, dependencies=[AddressLimited]
)
async def register(body: Registration, identity: IdentityDep, response: Response) -> UserView:
    if len(body.email) > identity.settings.email_length_max:
        raise Problem(422, "email_too_long", "Request refused", f"at most {identity.settings.email_length_max}")
    try:
        user = await identity.register(body.email, body.password)
    except domain.PasswordRejected as error:
        raise _refusal(error, status=422) from None
    except domain.EmailTaken as error:
        raise _refusal(error, status=409) from None
    response.headers["Location"] = f"/v1/users/{user.id}"
    return UserView(id=user.id, email=user.email, scopes=list(user.scopes))


@post_creating(
    router,
    "/v1/sessions",
    TokenView,
    INVALID_CREDENTIALS,
    RATE_LIMITED,
    summary="Log in",
    dependencies=[AddressLimited],
)
async def login(body: Credentials, identity: IdentityDep, response: Response) -> TokenView:
    try:
        issued = await identity.login(body.email, body.password)
    except domain.InvalidCredentials as error:
        raise _refusal(error, status=401) from None
    response.headers["Cache-Control"] = "no-store"
    return TokenView.of(issued)


@router.post(
    "/v1/tokens/refresh",
    response_model=TokenView,
    summary="Rotate a refresh token",
    responses=problem_responses(INVALID_GRANT),
)
async def refresh(body: RefreshRequest, identity: IdentityDep, response: Response) -> TokenView:
    try:
        issued = await identity.refresh(body.refresh_token)
    except domain.RefreshRefused as error:
        raise _refusal(error) from None
    response.headers["Cache-Control"] = "no-store"
    return TokenView.of(issued)


@router.post("/v1/logout", status_code=204, summary="Log out: revoke the refresh token's whole family")
async def logout(body: RefreshRequest, identity: IdentityDep) -> Response:
    await identity.logout(body.refresh_token)
    return Response(status_code=204)


_GRANT_SCHEMA = ClientCredentialsRequest.model_json_schema()


@router.post(
    "/v1/tokens",
    response_model=TokenView,
    summary="Client credentials grant (JSON or application/x-www-form-urlencoded)",
    description="Authenticate with HTTP Basic (client id and secret) or with client_id and client_secret fields.",
    responses=problem_responses(
        INVALID_REQUEST, UNSUPPORTED_GRANT_TYPE, INVALID_SCOPE, INVALID_CLIENT, BODY_TOO_LARGE, RATE_LIMITED
    ),
    # The body is parsed by hand to accept both encodings, so its schema is declared here.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _GRANT_SCHEMA},
                "application/json": {"schema": _GRANT_SCHEMA},
            },
        }
    },
)
async def client_token(request: Request, identity: IdentityDep, response: Response) -> TokenView:
    grant = await _client_grant(request, identity.settings.request_body_bytes_max)
    client_id, client_secret = _client_authentication(request, grant)
    # Guessing client secrets from one address meets the login limit; the platform's own services
    # renewing their tokens do not, as an authenticated request gives its token back.
    limiter: RateLimiter = request.app.state.rate_limiter
    key, bucket = _address_bucket(request, identity)
    await limiter.enforce(key, bucket)
    try:
        issued = await identity.client_token(client_id, client_secret, grant.scope)
    except domain.InvalidCredentials as error:
        raise Problem(
            401, "invalid_client", "Request refused", str(error), headers={"WWW-Authenticate": "Basic"}
        ) from None
    except (domain.UnknownScope, domain.ScopeNotAllowed) as error:
        await limiter.give_back(key, bucket)
        raise _refusal(error, code="invalid_scope") from None
    await limiter.give_back(key, bucket)
    response.headers["Cache-Control"] = "no-store"
    return TokenView.of(issued)


async def _client_grant(request: Request, body_bytes_max: int) -> ClientCredentialsRequest:
    raw = await request.body()
    if len(raw) > body_bytes_max:
        raise Problem(413, "body_too_large", "Request body too large", f"at most {body_bytes_max} bytes")
    fields: Any
    try:
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            pairs = parse_qsl(raw.decode(), max_num_fields=FORM_FIELDS_MAX, strict_parsing=True)
            fields = dict(pairs)
            if len(fields) != len(pairs):
                raise ValueError("a parameter is given more than once")
        else:
            fields = json.loads(raw or b"{}")
        if isinstance(fields, dict) and len(fields) > FORM_FIELDS_MAX:
            raise ValueError(f"at most {FORM_FIELDS_MAX} parameters")
        if isinstance(fields, dict) and fields.get("grant_type") not in (None, "client_credentials"):
            raise Problem(400, "unsupported_grant_type", "Request refused", "only client_credentials is supported")
        return ClientCredentialsRequest.model_validate(fields)
    except (ValueError, ValidationError) as error:
        raise Problem(400, "invalid_request", "Request refused", str(error).splitlines()[0]) from None


def _client_authentication(request: Request, grant: ClientCredentialsRequest) -> tuple[str, str]:
    """HTTP Basic (client_secret_basic) or body fields (client_secret_post), as RFC 6749 allows."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(401, "invalid_client", "Request refused", "malformed Basic credentials") from None
        return unquote(client_id), unquote(secret)
    if grant.client_id and grant.client_secret:
        return grant.client_id, grant.client_secret
    raise Problem(
        401, "invalid_client", "Request refused", "client credentials missing", headers={"WWW-Authenticate": "Basic"}
    )


@router.get("/.well-known/jwks.json", summary="Public signing keys (RFC 7517)")
async def jwks(identity: IdentityDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = f"public, max-age={identity.settings.jwks_cache_max_age_s}"
    return await identity.jwks()


@router.get("/v1/me", response_model=PrincipalView, summary="Who the presented access token speaks for")
async def me(principal: CurrentPrincipal) -> PrincipalView:
    return PrincipalView(subject=principal.subject, scopes=sorted(principal.scopes), session_id=principal.session_id)


@router.get("/v1/signing-keys", response_model=list[SigningKeyView], summary="Published signing keys (admin)")
async def list_signing_keys(_: AdminPrincipal, identity: IdentityDep) -> list[SigningKeyView]:
    return [SigningKeyView.of(key) for key in await identity.signing_keys()]


@post_creating(router, "/v1/signing-keys/rotations", SigningKeyView, summary="Rotate (admin)")
async def rotate_signing_key(_: AdminPrincipal, collaborators: IdentityCollaboratorsDep) -> SigningKeyView:
    key = await collaborators.identity.rotate_signing_key()
    # This replica's own verifier learns the new key at once rather than on its next refresh.
    await collaborators.token_verifier.reload()
    return SigningKeyView.of(key)


@post_creating(
    router, "/v1/clients", ClientSecretView, UNKNOWN_SCOPE, CLIENT_EXISTS, summary="New service client (admin)"
)
async def create_client(body: NewClient, _: AdminPrincipal, identity: IdentityDep) -> ClientSecretView:
    try:
        secret = await identity.create_client(body.client_id, body.scopes)
    except domain.UnknownScope as error:
        raise _refusal(error, status=422) from None
    except domain.IdentityError as error:
        raise _refusal(error, status=409, code="client_exists") from None
    return ClientSecretView(client_id=body.client_id, client_secret=secret, scopes=sorted(set(body.scopes)))
