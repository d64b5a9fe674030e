"""Checks the OpenAPI contract run adds to schemathesis's own (loaded through SCHEMATHESIS_HOOKS).

Schemathesis's `positive_data_acceptance` refuses any 4xx but 401/403/404/409 to a request the
schema allows. A few refusals depend on the platform's data, which no schema can express: a
transfer between wallets that do not exist, an idempotency key reused with another body. Those,
and only those, are named here; a schema-valid request refused for its shape (`validation_error`,
`malformed_amount`, `too_many_decimals`, ...) still fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Refusals of a well-formed request because of what the platform holds (or a rule JSON Schema
# cannot state, such as two fields that must differ).
DATA_DEPENDENT_REFUSALS = frozenset(
    {
        "unknown_wallet",  # payment: a wallet id that names no wallet
        "currency_mismatch",  # payment: the wallet holds another currency
        "self_transfer",  # payment: source and destination equal (two fields that must differ)
        "duplicate_transfer_id",  # payment: two transfers of a batch share an id (unique by a field)
        "batch_refused",  # payment: an atomic batch with a transfer refused (as each is in a plain batch's 200)
        "idempotency_key_reused",  # payment: a key seen before with another body
        "refund_exceeds_original",  # payment: more than is left to refund
        "too_many_subscriptions",  # notification: the wallet has its maximum already
        "invalid_grant",  # identity: a refresh token that was never issued
        "invalid_cursor",  # ledger, payment: a page cursor the service never issued (cursors are opaque)
        "wallet_id_required",  # payment: a customer lists one wallet's payments (only an admin lists all)
        "owner_not_allowed",  # wallet: a customer names someone else as the owner (only an admin may)
        "same_currency",  # payment: a rate or quote between a currency and itself (two fields that must differ)
        "rate_unavailable",  # payment: no rate for the pair (yet)
        "too_many_rates",  # payment: the rates table holds its maximum of pairs
        "quote_too_small",  # payment: the amount buys less than a minor unit at the pair's rate
        "quote_too_large",  # payment: the amount buys more than a payment carries at the pair's rate
        "quote_expired",  # payment: the quote's time ran out
        "quote_mismatch",  # payment: an amount or currency other than the quote's
    }
)


# A refund's amount is checked against the currency of the payment it refunds, which the request
# does not name: how many decimals and how large depends on that payment.
REFUND_PATH = "/v1/payments/{payment_id}/refunds"
DATA_DEPENDENT_REFUSALS_OF = {REFUND_PATH: frozenset({"too_many_decimals", "amount_too_large"})}


def _problem_code(response: Any) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


@schemathesis.check
def positive_data_accepted_unless_data_refuses(ctx: Any, response: Any, case: Any) -> bool | None:
    """`positive_data_acceptance`, with the data-dependent refusals above allowed."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        code = _problem_code(response)
        if code in DATA_DEPENDENT_REFUSALS or code in DATA_DEPENDENT_REFUSALS_OF.get(case.path, ()):
            return None
        raise


@schemathesis.check
def errors_are_problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer is RFC 9457 problem details with its status and a code."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]  # lower-case names, lists of values
    if not content_type.startswith(PROBLEM_MEDIA_TYPE):
        raise AssertionError(f"{response.status_code} answered as {content_type!r}, not {PROBLEM_MEDIA_TYPE}")
    body = response.json()
    if body.get("status") != response.status_code or not body.get("code"):
        raise AssertionError(f"problem body {body} does not carry status {response.status_code} and a code")
    return None


# What a server may add to `Allow` without declaring it: HEAD beside GET, OPTIONS.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
DOCUMENTED_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "TRACE"})


@schemathesis.check
def allow_names_the_documented_methods(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 405's `Allow` lists exactly the methods the document declares for the path (schemathesis
    checks only that the header is there, so an empty one would pass)."""
    if response.status_code != 405:
        return None
    allow = ", ".join(response.headers.get("allow", []))
    advertised = {method.strip().upper() for method in allow.split(",") if method.strip()}
    declared = {method.upper() for method in case.operation.schema[case.operation.path]} & DOCUMENTED_METHODS
    if advertised - IMPLICIT_METHODS != declared:
        path = case.operation.path
        raise AssertionError(f"405 `Allow: {allow}` for {path}; the document declares {sorted(declared)}")
    return None
