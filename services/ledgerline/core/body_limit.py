"""Request bodies larger than a service's `request_body_bytes_max` are refused with 413.

Plain ASGI middleware in front of every route: a declared `Content-Length` over the limit is
refused before anything is read; otherwise the body is read up to the limit and handed on whole,
so a chunked body without a length cannot get past it either. Reading it here costs nothing
extra: every route parses JSON, which needs the whole body anyway.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerline.core.problems import PROBLEM_MEDIA_TYPE, Problem


class _TooLarge(Exception):
    pass


class RequestBodyLimit:
    def __init__(self, app: ASGIApp, *, bytes_max: int) -> None:
        self._app = app
        self._bytes_max = bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._bytes_max:
            await self._refuse(scope, receive, send)
            return
        try:
            body = await self._read_within_limit(receive)
        except _TooLarge:
            await self._refuse(scope, receive, send)
            return
        if body is None:
            return  # The client went away before its body arrived: there is no one to answer.
        await self._app(scope, _replaying(body, receive), send)

    async def _read_within_limit(self, receive: Receive) -> bytes | None:
        """The whole body, or None if the client disconnected; the rest of a body over the limit
        is left unread."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._bytes_max:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(413, "body_too_large", "Request body too large", f"at most {self._bytes_max} bytes")
        response = JSONResponse(problem.body(scope.get("path")), status_code=413, media_type=PROBLEM_MEDIA_TYPE)
        await response(scope, receive, send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read ahead once, then whatever the server sends next."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)
