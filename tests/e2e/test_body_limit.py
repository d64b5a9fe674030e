"""Every service refuses a request body over its `request_body_bytes_max` with a 413 problem, and
takes one of exactly that size to its route."""

from __future__ import annotations

import json

import httpx
import pytest

from ledgerline.core.settings import REQUEST_BODY_BYTES_MAX
from ledgerline.infra.platform import Platform
from ledgerline.payment.settings import PaymentSettings

_PAYMENT_BODY_BYTES_MAX = PaymentSettings().request_body_bytes_max


def _json_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (the routes refuse its content, not its size)."""
    empty = json.dumps({"padding": ""}).encode()
    body = json.dumps({"padding": "x" * (size - len(empty))}).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize(
    ("service", "path", "bytes_max"),
    [
        ("notification", "/v1/webhooks", REQUEST_BODY_BYTES_MAX),
        ("payment", "/v1/transfers/batch", _PAYMENT_BODY_BYTES_MAX),
    ],
)
async def test_a_body_over_the_limit_is_refused_before_the_route(
    platform: Platform, service: str, path: str, bytes_max: int
) -> None:
    headers = {"content-type": "application/json", "Idempotency-Key": "body-limit"}
    async with httpx.AsyncClient(base_url=platform.url(service), timeout=60) as http:
        at_max = await http.post(path, content=_json_of_size(bytes_max), headers=headers)
        over = await http.post(path, content=_json_of_size(bytes_max + 1), headers=headers)
    # At the limit the route answers for the content (a validation problem), not for the size.
    assert at_max.status_code != 413 and 400 <= at_max.status_code < 500, at_max.text
    assert at_max.headers["content-type"] == "application/problem+json"
    assert over.status_code == 413, over.text
    assert over.headers["content-type"] == "application/problem+json"
    problem = over.json()
    assert problem["code"] == "body_too_large" and problem["detail"] == f"at most {bytes_max} bytes"
