"""Commands and replies exchanged over Kafka: CloudEvent types and their JSON bodies.

Bodies are pydantic models with strict integers for amounts (minor units), so a float or a
string amount is rejected at the edge instead of travelling on.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ledgerline.core import topics
from ledgerline.core.events import OutgoingMessage

AmountMinor = Annotated[StrictInt, Field(gt=0)]
SignedAmountMinor = StrictInt

# The external settlement account of each currency has a fixed, derivable id, so the payment
# service can name it in postings without asking the ledger.
_SETTLEMENT_NAMESPACE = uuid.UUID("6c1b2f0e-5a43-4c1e-9a8e-1f0d2c3b4a50")


def settlement_account_id(currency: str) -> uuid.UUID:
    return uuid.uuid5(_SETTLEMENT_NAMESPACE, f"settlement:{currency}")


def rewards_account_id(currency: str) -> uuid.UUID:
    """The account of each currency that pays cashback and takes clawbacks back, derivable too."""
    return uuid.uuid5(_SETTLEMENT_NAMESPACE, f"rewards:{currency}")


def fx_account_id(currency: str) -> uuid.UUID:
    """The account of each currency through which cross-currency transfers exchange money: it
    takes in what a transfer pays in this currency and pays out what one receives in it."""
    return uuid.uuid5(_SETTLEMENT_NAMESPACE, f"fx:{currency}")


# An atomic transfer batch holds at most this many transfers (the batch limit of the API).
GROUP_HOLDS_MAX = 1000

AccountKindName = Literal["wallet", "settlement", "rewards", "fx"]


# Wallet commands and replies.
RESERVE_FUNDS = "io.ledgerline.wallet.reserve_funds"
RELEASE_FUNDS = "io.ledgerline.wallet.release_funds"
SETTLE_FUNDS = "io.ledgerline.wallet.settle_funds"
FUNDS_RESERVED = "io.ledgerline.wallet.funds_reserved"
FUNDS_REJECTED = "io.ledgerline.wallet.funds_rejected"
FUNDS_RELEASED = "io.ledgerline.wallet.funds_released"
FUNDS_SETTLED = "io.ledgerline.wallet.funds_settled"
WALLET_OPENED = "io.ledgerline.wallet.opened"
# The holds of an atomic transfer batch, placed all or none, and the one reply for them all.
RESERVE_GROUP = "io.ledgerline.wallet.reserve_group"
GROUP_RESERVED = "io.ledgerline.wallet.group_reserved"
GROUP_REJECTED = "io.ledgerline.wallet.group_rejected"
# Ledger commands and replies.
POST_ENTRY = "io.ledgerline.ledger.post_entry"
VOID_ENTRY = "io.ledgerline.ledger.void_entry"
ENTRY_POSTED = "io.ledgerline.ledger.entry_posted"
ENTRY_REJECTED = "io.ledgerline.ledger.entry_rejected"
ENTRY_VOIDED = "io.ledgerline.ledger.entry_voided"
# Payment: bank steps the payment service sends itself, and the public outcome events.
BANK_OPERATION = "io.ledgerline.payment.bank_operation"
PAYMENT_COMPLETED = "io.ledgerline.payment.completed"
PAYMENT_FAILED = "io.ledgerline.payment.failed"
# Notification: one delivery of one notification to one subscription.
NOTIFICATION_DELIVERY = "io.ledgerline.notification.delivery"
# Identity: announced once per new user (the address stays in the identity database).
USER_REGISTERED = "io.ledgerline.identity.user_registered"


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReserveFunds(Contract):
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: AmountMinor
    currency: str


class ReleaseFunds(Contract):
    payment_id: uuid.UUID
    wallet_id: uuid.UUID


class Credit(Contract):
    wallet_id: uuid.UUID
    amount_minor: AmountMinor


class SettleFunds(Contract):
    """Consume the payment's hold on `debit_wallet_id` (if any) and apply the credits."""

    payment_id: uuid.UUID
    currency: str
    debit_wallet_id: uuid.UUID | None = None
    credits: tuple[Credit, ...] = ()


class FundsReserved(Contract):
    payment_id: uuid.UUID
    wallet_id: uuid.UUID


class FundsRejected(Contract):
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    reason: str


class GroupHold(Contract):
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: AmountMinor


class ReserveGroup(Contract):
    """Hold every payment's funds, or none of them: one transaction in the wallet service."""

    group_id: uuid.UUID
    currency: str
    holds: tuple[GroupHold, ...] = Field(min_length=1, max_length=GROUP_HOLDS_MAX)


class GroupReserved(Contract):
    group_id: uuid.UUID
    payment_ids: tuple[uuid.UUID, ...]


class GroupRejection(Contract):
    payment_id: uuid.UUID
    reason: str


class GroupRejected(Contract):
    """No hold was placed: each payment with its reason (the offending one's own, the others
    `linked_transfer_failed`)."""

    group_id: uuid.UUID
    rejections: tuple[GroupRejection, ...]


class FundsReleased(Contract):
    payment_id: uuid.UUID
    wallet_id: uuid.UUID


class FundsSettled(Contract):
    payment_id: uuid.UUID


class WalletOpened(Contract):
    wallet_id: uuid.UUID
    owner_id: str
    currency: str


class PostingLine(Contract):
    account_id: uuid.UUID
    account_kind: AccountKindName
    currency: str
    amount_minor: SignedAmountMinor


class PostEntry(Contract):
    entry_id: uuid.UUID
    payment_id: uuid.UUID
    description: str
    postings: tuple[PostingLine, ...]


class VoidEntry(Contract):
    entry_id: uuid.UUID
    payment_id: uuid.UUID


class EntryPosted(Contract):
    entry_id: uuid.UUID
    payment_id: uuid.UUID


class EntryRejected(Contract):
    entry_id: uuid.UUID
    payment_id: uuid.UUID
    reason: str


class EntryVoided(Contract):
    entry_id: uuid.UUID
    payment_id: uuid.UUID


class BankOperation(Contract):
    payment_id: uuid.UUID
    operation: Literal["charge", "payout", "refund_charge"]


class PaymentOutcome(Contract):
    """Body of `payment.completed` and `payment.failed`: what the notification service needs."""

    payment_id: uuid.UUID
    payment_type: str
    status: str
    amount_minor: AmountMinor
    currency: str
    source_wallet_id: uuid.UUID | None
    destination_wallet_id: uuid.UUID | None
    reason: str | None = None
    original_payment_id: uuid.UUID | None = None


class DeliveryTask(Contract):
    notification_id: uuid.UUID


class UserRegistered(Contract):
    user_id: uuid.UUID


# Which topic each message type travels on.
TOPIC_OF: dict[str, str] = {
    RESERVE_FUNDS: topics.WALLET_COMMANDS,
    RELEASE_FUNDS: topics.WALLET_COMMANDS,
    SETTLE_FUNDS: topics.WALLET_COMMANDS,
    FUNDS_RESERVED: topics.WALLET_EVENTS,
    FUNDS_REJECTED: topics.WALLET_EVENTS,
    FUNDS_RELEASED: topics.WALLET_EVENTS,
    FUNDS_SETTLED: topics.WALLET_EVENTS,
    WALLET_OPENED: topics.WALLET_EVENTS,
    RESERVE_GROUP: topics.WALLET_COMMANDS,
    GROUP_RESERVED: topics.WALLET_EVENTS,
    GROUP_REJECTED: topics.WALLET_EVENTS,
    POST_ENTRY: topics.LEDGER_COMMANDS,
    VOID_ENTRY: topics.LEDGER_COMMANDS,
    ENTRY_POSTED: topics.LEDGER_EVENTS,
    ENTRY_REJECTED: topics.LEDGER_EVENTS,
    ENTRY_VOIDED: topics.LEDGER_EVENTS,
    BANK_OPERATION: topics.PAYMENT_COMMANDS,
    PAYMENT_COMPLETED: topics.PAYMENT_EVENTS,
    PAYMENT_FAILED: topics.PAYMENT_EVENTS,
    NOTIFICATION_DELIVERY: topics.NOTIFICATION_DELIVERIES,
    USER_REGISTERED: topics.IDENTITY_EVENTS,
}


def message(
    type_: str,
    body: Contract,
    *,
    key: str,
    source: str,
    message_id: str | None = None,
    traceparent: str | None = None,
) -> OutgoingMessage:
    """An outbox message of `type_` on its topic; `message_id` fixes the id for retried commands."""
    outgoing = OutgoingMessage(
        topic=TOPIC_OF[type_],
        key=key,
        type=type_,
        source=source,
        data=body.model_dump(mode="json"),
        traceparent=traceparent,
    )
    return dataclasses.replace(outgoing, id=message_id) if message_id else outgoing
