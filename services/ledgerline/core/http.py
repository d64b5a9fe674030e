"""What every service's routes share: the runtime, the unit of work and the service's
collaborators as FastAPI dependencies, page limits and cursors, and the types of times and email
addresses, with schemas as strict as their validation."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import email_validator
from fastapi import Depends, Request
from pydantic import BeforeValidator, EmailStr, WithJsonSchema

from ledgerline.core.db import UnitOfWork
from ledgerline.core.problems import Problem
from ledgerline.core.runtime import ServiceRuntime
from ledgerline.core.settings import ServiceSettings

T = TypeVar("T")


async def get_runtime(request: Request) -> ServiceRuntime[ServiceSettings]:
    # Async on purpose: FastAPI runs a plain function dependency in a worker thread.
    runtime: ServiceRuntime[ServiceSettings] = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime[ServiceSettings], Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> UnitOfWork:
    """A unit of work not yet begun: the route enters it where its transaction starts."""
    return runtime.uow()


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def collaborators_of(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency giving what the service's bootstrap made (`Depends(collaborators_of(...))`)."""

    async def collaborators(request: Request) -> T:
        return _checked(request.app.state.collaborators, kind)

    return collaborators


def _checked(value: object, kind: type[T]) -> T:
    # A mismatch is a wiring mistake in the service, caught by its first request in any test.
    if not isinstance(value, kind):
        raise TypeError(f"the app holds a {type(value).__name__} where a {kind.__name__} was expected")
    return value


def check_page_size(limit: int, page_size_max: int) -> None:
    if limit > page_size_max:
        raise Problem(422, "page_too_large", "Page size too large", f"limit must be <= {page_size_max}")


# RFC 3339 `date-time`, the offset optional here so that a time without one gets its own problem
# (`naive_time`) from the route. Pydantic alone would also read `0.5` as a Unix time.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 time such as 2026-01-31T23:59:59Z")
    return value.upper() if isinstance(value, str) else value


Rfc3339Time = Annotated[datetime, BeforeValidator(_rfc3339), WithJsonSchema({"type": "string", "format": "date-time"})]


def _case_blind(name: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)


# email-validator refuses the special-use domains of RFC 6761 (`.test`, `.local`, ...), which
# `format: email` alone allows; the schema says so, so what it allows is accepted.
_SPECIAL_USE_DOMAINS = "|".join(_case_blind(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
EMAIL_LENGTH_MAX = 254  # RFC 5321's limit on a path, which email-validator enforces.
EmailAddress = Annotated[
    EmailStr,
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": EMAIL_LENGTH_MAX,
            "not": {"pattern": f"[.@]({_SPECIAL_USE_DOMAINS})$"},
        }
    ),
]


def encode_cursor(kind: str, value: str) -> str:
    """An opaque keyset cursor: clients pass it back as they got it."""
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(cursor: str, kind: str) -> str:
    """The value of a cursor made by `encode_cursor(kind, ...)`; 400 for anything else."""
    try:
        found, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        found, value = "", ""
    if found != kind or not value:
        raise Problem(400, "invalid_cursor", "Cursor is not valid", "use next_cursor from a previous page")
    return value
