"""What every service's routes share: the runtime as a FastAPI dependency, page limits and cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from ledgerline.core.problems import Problem
from ledgerline.core.runtime import ServiceRuntime


async def get_runtime(request: Request) -> ServiceRuntime:
    # Async on purpose: FastAPI runs a plain function dependency in a worker thread.
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


def check_page_size(limit: int, page_size_max: int) -> None:
    if limit > page_size_max:
        raise Problem(422, "page_too_large", "Page size too large", f"limit must be <= {page_size_max}")


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
