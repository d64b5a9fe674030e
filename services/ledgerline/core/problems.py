"""RFC 9457 problem details for every HTTP error a service returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ledgerline.core.transient import is_transient

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Tag URIs (RFC 4151) name problem types without promising a web page behind them.
PROBLEM_TYPE_PREFIX = "tag:ledgerline.io,2026:problems/"
TRANSIENT_RETRY_AFTER_S = "1"
# The problem codes of errors the framework raises before a route runs.
HTTP_ERROR_CODES = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed"}
_log = logging.getLogger(__name__)


class Problem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.headers = dict(headers or {})
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    headers = dict(problem.headers)
    if problem.status == 503:
        # Every 503 says when to come back, so clients back off instead of hammering.
        headers.setdefault("Retry-After", TRANSIENT_RETRY_AFTER_S)
    return JSONResponse(
        problem.body(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers or None,
    )


def not_found(what: str, identifier: object) -> Problem:
    return Problem(404, f"{what}_not_found", f"{what.capitalize()} not found", f"no {what} {identifier}")


# The methods a route can serve; a 405's `Allow` names those the path answers to.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The methods some route serves at the request's path. Each method is asked of the router
    as a request would be: included routers (FastAPI wraps them) expose no method list of their own."""
    routes = request.app.router.routes
    methods = [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return ", ".join(sorted(methods))


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"location": list(error.get("loc", ())), "message": error.get("msg", "")} for error in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['location']))}: {e['message']}" for e in errors)
        problem = Problem(422, "validation_error", "Request is not valid", detail, errors=errors)
        return problem_response(problem, request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # RFC 9110 section 15.5.6: `Allow` lists what the resource supports. Starlette names
            # only the methods of the first route on the path; a resource can have several.
            headers["Allow"] = allowed_methods(request)
        return problem_response(Problem(exc.status_code, code, str(exc.detail), headers=headers), request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_transient(exc):
            # A dependency restarting (PostgreSQL, Redis): the request did nothing; retrying helps.
            _log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
            problem = Problem(
                503,
                "dependency_unavailable",
                "A dependency is unavailable",
                "retry shortly",
                headers={"Retry-After": TRANSIENT_RETRY_AFTER_S},
            )
            return problem_response(problem, request)
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(500, "internal_error", "Internal error", "the error was logged")
        return problem_response(problem, request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
