"""The OpenAPI document each service publishes, made to tell the truth about errors.

Every error a service answers is RFC 9457 problem details (`core/problems.py`). FastAPI's own
document declares none of them except a 422 in its own, different shape. Here the document is
rewritten once, when first asked for: every error status an operation can answer is declared with
the `Problem` schema under `application/problem+json`, an example per problem code, and the
headers that come with it (`Retry-After` on 503, `WWW-Authenticate` on 401).

Which problems an operation can answer comes from two places:
- `PROBLEM_RULES`: problems that follow from what the operation is (it has a path parameter, takes
  an `Idempotency-Key`, needs a token, ...). A new cross-cutting refusal is one rule here.
- the route's own `responses=problem_responses(...)`, for refusals only that route makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.types import DecoratedCallable

from ledgerline.core.idempotency import IDEMPOTENCY_HEADER, KEY_LENGTH_MAX
from ledgerline.core.problems import PROBLEM_MEDIA_TYPE, Problem

Operation = Mapping[str, Any]
PROBLEM_SCHEMA_NAME = "Problem"
PAGE_LIMIT_PARAMETER = "limit"
PAGE_CURSOR_PARAMETER = "cursor"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
# FastAPI's own 422 shape, replaced by the Problem schema everywhere.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

# Routes read the key as optional so that its absence is our 400 `idempotency_key_missing`, not
# a generic 422; the document says what the service requires: present, printable, bounded.
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": KEY_LENGTH_MAX,
    "pattern": "^[!-~]([ -~]*[!-~])?$",
}

# Headers that come with some problems, as the document declares them.
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "WWW-Authenticate": {
        "description": "The authentication scheme and why the credentials were refused (RFC 6750)",
        "schema": {"type": "string", "minLength": 1},
    },
}


@dataclass(frozen=True, slots=True)
class DeclaredProblem:
    """One problem an operation may answer; shown as an example of its status."""

    status: int
    code: str
    title: str
    detail: str | None = None
    headers: tuple[str, ...] = ()

    def problem(self, detail: str | None = None, **extensions: Any) -> Problem:
        """The problem to raise: the one the document shows."""
        return Problem(self.status, self.code, self.title, detail or self.detail, **extensions)

    def example(self) -> dict[str, Any]:
        return self.problem().body()


@dataclass(frozen=True, slots=True)
class ProblemRule:
    """Problems that every operation for which `applies(operation)` holds may answer."""

    applies: Callable[[Operation], bool]
    problems: tuple[DeclaredProblem, ...]


def _always(_: Operation) -> bool:
    return True


def _parameters(operation: Operation, location: str) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", ()) if p.get("in") == location]


def _takes_input(operation: Operation) -> bool:
    return bool(operation.get("parameters")) or "requestBody" in operation


def _takes_body(operation: Operation) -> bool:
    return "requestBody" in operation


def _has_path_parameter(operation: Operation) -> bool:
    return bool(_parameters(operation, "path"))


def _takes_idempotency_key(operation: Operation) -> bool:
    return any(p.get("name") == IDEMPOTENCY_HEADER for p in _parameters(operation, "header"))


def _pages(operation: Operation) -> bool:
    return any(p.get("name") == PAGE_LIMIT_PARAMETER for p in _parameters(operation, "query"))


def _takes_opaque_cursor(operation: Operation) -> bool:
    # Wallet pages take a wallet id as their cursor (a 422 when malformed); others an opaque one.
    return any(
        p.get("name") == PAGE_CURSOR_PARAMETER and "uuid" not in str(p.get("schema", {}))
        for p in _parameters(operation, "query")
    )


def _needs_token(operation: Operation) -> bool:
    return bool(operation.get("security"))


INTERNAL_ERROR = DeclaredProblem(500, "internal_error", "Internal error", "the error was logged")
DEPENDENCY_UNAVAILABLE = DeclaredProblem(
    503, "dependency_unavailable", "A dependency is unavailable", "retry shortly", headers=("Retry-After",)
)
# A caller past its token bucket (core/rate_limits.py): every authenticated route, and the
# identity routes limited per client address.
RATE_LIMITED = DeclaredProblem(429, "rate_limited", "Too many requests", headers=("Retry-After",))
VALIDATION_ERROR = DeclaredProblem(422, "validation_error", "Request is not valid", "body.amount: Field required")
NOT_FOUND = DeclaredProblem(404, "not_found", "Not Found", "nothing is at this path, or the resource it names")

# What every operation of a service may answer, by what the operation is.
PROBLEM_RULES: tuple[ProblemRule, ...] = (
    ProblemRule(_always, (INTERNAL_ERROR, DEPENDENCY_UNAVAILABLE)),
    ProblemRule(_takes_input, (VALIDATION_ERROR,)),
    ProblemRule(
        _takes_body,
        (
            DeclaredProblem(400, "malformed_request", "There was an error parsing the body"),
            # core/body_limit.py refuses a body over the service's request_body_bytes_max.
            DeclaredProblem(413, "body_too_large", "Request body too large"),
        ),
    ),
    ProblemRule(_has_path_parameter, (NOT_FOUND,)),
    ProblemRule(_pages, (DeclaredProblem(422, "page_too_large", "Page size too large", "limit must be <= 500"),)),
    ProblemRule(
        _takes_opaque_cursor,
        (DeclaredProblem(400, "invalid_cursor", "Cursor is not valid", "use next_cursor from a previous page"),),
    ),
    ProblemRule(
        _takes_idempotency_key,
        (
            DeclaredProblem(400, "idempotency_key_missing", "Idempotency-Key header is required"),
            DeclaredProblem(400, "idempotency_key_invalid", "Idempotency-Key is not valid"),
            DeclaredProblem(409, "idempotency_key_in_flight", "Request with this key is in flight"),
            DeclaredProblem(422, "idempotency_key_reused", "Idempotency-Key was used with a different request"),
        ),
    ),
    ProblemRule(
        _needs_token,
        (
            DeclaredProblem(401, "unauthorized", "Authentication required", headers=("WWW-Authenticate",)),
            # Not every 403 is about the token (a payer asking to refund, a customer naming another
            # owner), so `WWW-Authenticate` is sent with insufficient_scope but not declared required.
            DeclaredProblem(403, "insufficient_scope", "Token lacks a required scope"),
            # Every authenticated route draws from its caller's token bucket (core/rate_limits.py).
            RATE_LIMITED,
        ),
    ),
)


def problem_responses(*problems: DeclaredProblem) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for refusals only it makes; merged with the rules' problems."""
    by_status: dict[int | str, dict[str, Any]] = {}
    for problem in problems:
        by_status.setdefault(problem.status, {"x-problems": []})["x-problems"].append(problem)
    return by_status


def post_creating(
    router: APIRouter, path: str, view: type[Any], *problems: DeclaredProblem, **options: Any
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """`router.post` for a route that creates something: 201 with `view`, and the refusals only
    it makes (`options` as for `router.post`)."""
    return router.post(path, status_code=201, response_model=view, responses=problem_responses(*problems), **options)


def install_problem_docs(
    app: FastAPI,
    rules: Sequence[ProblemRule] = PROBLEM_RULES,
    *,
    page_size_max: int | None = None,
) -> None:
    """Make `app.openapi()` declare every problem the rules and the routes name.

    `page_size_max` is the largest `limit` the service accepts (a setting), stated in the document.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            app.openapi_schema = declare_problems(document, rules, page_size_max=page_size_max)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise.


def declare_problems(
    document: dict[str, Any], rules: Sequence[ProblemRule], *, page_size_max: int | None = None
) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas[PROBLEM_SCHEMA_NAME] = problem_schema()
    for operation in _operations(document):
        if page_size_max is not None:
            _state_page_limit(operation, page_size_max)
        _require_idempotency_key(operation)
        problems = [p for rule in rules if rule.applies(operation) for p in rule.problems]
        _declare(operation, problems)
    return document


def _operations(document: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield operation


def _state_page_limit(operation: dict[str, Any], page_size_max: int) -> None:
    for parameter in _parameters(operation, "query"):
        if parameter.get("name") == PAGE_LIMIT_PARAMETER:
            schema = parameter.setdefault("schema", {})
            schema["maximum"] = min(schema.get("maximum", page_size_max), page_size_max)


def _require_idempotency_key(operation: dict[str, Any]) -> None:
    for parameter in _parameters(operation, "header"):
        if parameter.get("name") == IDEMPOTENCY_HEADER:
            parameter["required"] = True
            parameter["schema"] = {**IDEMPOTENCY_KEY_SCHEMA, "title": IDEMPOTENCY_HEADER}


def _declare(operation: dict[str, Any], problems: Sequence[DeclaredProblem]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    by_status: dict[str, list[DeclaredProblem]] = {}
    for key, response in responses.items():
        # FastAPI hands the route's problems over as plain dicts (it encodes the whole document).
        declared = [_as_problem(p) for p in response.pop("x-problems", [])]
        if key.isdigit() and int(key) >= 400:
            by_status.setdefault(key, []).extend(declared)
    for problem in problems:
        by_status.setdefault(str(problem.status), []).append(problem)
    for status, declared in by_status.items():
        responses[status] = _problem_response(int(status), declared, responses.get(status, {}))
    operation["responses"] = dict(sorted(responses.items()))


def _as_problem(value: DeclaredProblem | Mapping[str, Any]) -> DeclaredProblem:
    if isinstance(value, DeclaredProblem):
        return value
    return DeclaredProblem(**{**value, "headers": tuple(value.get("headers", ()))})


def _problem_response(status: int, problems: Sequence[DeclaredProblem], declared: Mapping[str, Any]) -> dict[str, Any]:
    unique = list({p.code: p for p in problems}.values())
    titles = "; ".join(dict.fromkeys(p.title for p in unique))
    description = declared.get("description")
    # FastAPI fills in the status phrase (or "Validation Error"); the problems' titles say more.
    if not description or description in (HTTPStatus(status).phrase, "Validation Error"):
        description = titles or HTTPStatus(status).phrase
    content: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"}}
    if unique:
        content["examples"] = {p.code: {"summary": p.title, "value": p.example()} for p in unique}
    response: dict[str, Any] = {"description": description, "content": {PROBLEM_MEDIA_TYPE: content}}
    # A header is promised only if every problem of this status sends it.
    headers = set.intersection(*(set(p.headers) for p in unique)) if unique else set()
    if headers:
        response["headers"] = {name: {**RESPONSE_HEADERS[name], "required": True} for name in sorted(headers)}
    return response


def problem_schema() -> dict[str, Any]:
    return {
        "title": "Problem",
        "description": "RFC 9457 problem details; `code` names the problem for programs",
        "type": "object",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string", "description": "A URI naming the problem type"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "detail": {"type": "string"},
            "instance": {"type": "string", "description": "The path of the request"},
            "errors": {
                "type": "array",
                "description": "For `validation_error`: each field that is not valid, and why",
                "items": {
                    "type": "object",
                    "required": ["location", "message"],
                    "properties": {
                        "location": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        # Some problems carry more members, such as the `wallet_id` of `unknown_wallet`.
        "additionalProperties": True,
    }
