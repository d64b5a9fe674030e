"""Access tokens on outgoing calls: an `httpx.Auth` that holds a token, renews it before it
expires, and tries once more with a fresh one when a call answers 401 (a rotated key, a token
that expired in flight). Services use `ClientCredentials`; API clients log in (ledgerline.client).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import httpx

TOKEN_PATH = "/v1/tokens"
TOKEN_REQUEST_TIMEOUT_S = 10.0
# A token is renewed this long before it expires, so a request never leaves with one about to lapse.
RENEW_BEFORE_EXPIRY_S = 30.0


class RenewingBearer(httpx.Auth):
    """A bearer token from `obtain()`, shared by every request and renewed by one of them at a time."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def obtain(self) -> tuple[str, float]:
        """A new access token and its lifetime in seconds."""
        raise NotImplementedError

    async def token(self, stale: str | None = None) -> str:
        """The current token, renewed when it is due or when `stale` (a refused one) is still current."""
        if self._usable(stale):
            return self._token  # type: ignore[return-value]  # _usable checked it is set.
        async with self._lock:
            if not self._usable(stale):
                token, lifetime_s = await self.obtain()
                self._token = token
                self._renew_at = time.monotonic() + max(lifetime_s - RENEW_BEFORE_EXPIRY_S, lifetime_s / 2)
            return self._token  # type: ignore[return-value]  # Set just above.

    def _usable(self, stale: str | None) -> bool:
        return self._token is not None and self._token != stale and time.monotonic() < self._renew_at

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # A refused request did nothing, so sending it again with a fresh token is safe.
            request.headers["Authorization"] = f"Bearer {await self.token(stale=token)}"
            yield request


class ClientCredentials(RenewingBearer):
    """The OAuth client-credentials grant at the identity service (HTTP Basic client authentication)."""

    def __init__(self, identity_url: str, client_id: str, client_secret: str, scope: str | None = None) -> None:
        super().__init__()
        self._url = identity_url.rstrip("/") + TOKEN_PATH
        self._credentials = (client_id, client_secret)
        self._scope = scope

    async def obtain(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", **({"scope": self._scope} if self._scope else {})}
        async with httpx.AsyncClient(timeout=TOKEN_REQUEST_TIMEOUT_S) as http:
            response = await http.post(self._url, data=form, auth=self._credentials)
        response.raise_for_status()
        body = response.json()
        return str(body["access_token"]), float(body["expires_in"])


def service_auth(identity_url: str, client_id: str | None, client_secret: str | None) -> ClientCredentials | None:
    """This service's credentials, or None when it has none (its calls then go without a token)."""
    if not client_id or not client_secret:
        return None
    return ClientCredentials(identity_url, client_id, client_secret)
