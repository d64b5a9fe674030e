"""What the payment API refuses beyond the problems every service declares, as rules for its
OpenAPI document (`core/openapi.py`): the payments it cannot start and why."""

from __future__ import annotations

from ledgerline.core.openapi import DeclaredProblem, Operation, ProblemRule

UNKNOWN_WALLET = DeclaredProblem(422, "unknown_wallet", "Unknown wallet", "destination wallet ... does not exist")
# Money leaves (or, for a deposit, arrives in) only the caller's own wallet; another's is not found.
NOT_YOUR_WALLET = DeclaredProblem(404, "unknown_wallet", "Unknown wallet", "source wallet ... does not exist")
CURRENCY_MISMATCH = DeclaredProblem(422, "currency_mismatch", "Currency does not match the wallet")
SELF_TRANSFER = DeclaredProblem(422, "self_transfer", "Source and destination are the same wallet")
AMOUNT_NOT_VALID = DeclaredProblem(422, "too_many_decimals", "Amount is not valid", "amount: '1.234' has 3 decimals")
WALLET_SERVICE_ERROR = DeclaredProblem(502, "wallet_service_error", "Wallet service error")
OVERLOADED = DeclaredProblem(503, "overloaded", "Too many payments waiting", headers=("Retry-After",))
NOT_REFUNDABLE = DeclaredProblem(409, "not_refundable", "Payment cannot be refunded")
REFUND_EXCEEDS_ORIGINAL = DeclaredProblem(422, "refund_exceeds_original", "Refund exceeds what is left to refund")
WALLET_NOT_FOUND = DeclaredProblem(404, "wallet_not_found", "Wallet not found", "no wallet ...")
WALLET_ID_REQUIRED = DeclaredProblem(422, "wallet_id_required", "Name a wallet", "list the payments of your wallet")
QUOTE_NOT_FOUND = DeclaredProblem(404, "quote_not_found", "Quote not found", "no such quote")
QUOTE_USED = DeclaredProblem(409, "quote_used", "Quote was already used", "quote ... was used by payment ...")
QUOTE_EXPIRED = DeclaredProblem(422, "quote_expired", "Quote has expired", "quote ... expired at ...")
QUOTE_MISMATCH = DeclaredProblem(422, "quote_mismatch", "Amount or currency differs from the quote")
DUPLICATE_TRANSFER_ID = DeclaredProblem(422, "duplicate_transfer_id", "Two transfers share an id")
# An atomic batch is accepted whole or not at all: the refusal names each failing transfer.
BATCH_REFUSED = DeclaredProblem(
    422, "batch_refused", "Atomic batch refused", "1 of 2 transfers cannot be accepted (t-2); none was"
)
ACCEPTED_ELSEWHERE = DeclaredProblem(
    409,
    "accepted_elsewhere",
    "Transfer accepted outside this batch",
    "an atomic batch holds only new transfers, or is the same batch sent again",
)
BATCH_IN_FLIGHT = DeclaredProblem(409, "idempotency_key_in_flight", "A transfer of the batch is in flight")


def _operation_id(operation: Operation) -> str:
    return str(operation.get("operationId", ""))


def _starts_payment(operation: Operation) -> bool:
    """One payment per request; a batch answers each transfer's problem in its 200 body instead."""
    operation_id = _operation_id(operation)
    return operation_id.startswith("create_") and not _transfer_batch(operation)


def _transfers(operation: Operation) -> bool:
    return _operation_id(operation).startswith("create_transfer_v1")


def _refunds(operation: Operation) -> bool:
    return _operation_id(operation).startswith("create_refund")


def _lists_payments(operation: Operation) -> bool:
    return _operation_id(operation).startswith("list_payments")


def _transfer_batch(operation: Operation) -> bool:
    return _operation_id(operation).startswith("create_transfer_batch")


RULES = (
    ProblemRule(lambda op: _starts_payment(op) or _transfer_batch(op), (OVERLOADED,)),
    ProblemRule(_starts_payment, (AMOUNT_NOT_VALID,)),
    ProblemRule(
        lambda op: _starts_payment(op) and not _refunds(op),
        (UNKNOWN_WALLET, NOT_YOUR_WALLET, CURRENCY_MISMATCH, WALLET_SERVICE_ERROR),
    ),
    ProblemRule(_transfers, (SELF_TRANSFER, QUOTE_NOT_FOUND, QUOTE_USED, QUOTE_EXPIRED, QUOTE_MISMATCH)),
    ProblemRule(_refunds, (NOT_REFUNDABLE, REFUND_EXCEEDS_ORIGINAL)),
    ProblemRule(_transfer_batch, (DUPLICATE_TRANSFER_ID, BATCH_REFUSED, BATCH_IN_FLIGHT)),
    ProblemRule(_lists_payments, (WALLET_NOT_FOUND, WALLET_ID_REQUIRED)),
)
