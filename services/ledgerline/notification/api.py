"""Notification HTTP API: subscribe a wallet to webhooks or email, read the delivery log.

Only a wallet's owner (or an admin) subscribes to it and reads its notifications; another
customer's wallet answers 404, like one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AnyHttpUrl, BaseModel, Field

from ledgerline.core.auth import Principal, require_scopes
from ledgerline.core.db import UnitOfWork
from ledgerline.core.http import EmailAddress, UowDep, check_page_size
from ledgerline.core.openapi import DeclaredProblem, post_creating, problem_responses
from ledgerline.core.problems import not_found
from ledgerline.notification import repository
from ledgerline.notification.channels import new_webhook_secret
from ledgerline.notification.domain import Channel, Notification, Subscription
from ledgerline.notification.wiring import NotificationCollaborators, NotificationDep

router = APIRouter(prefix="/v1", tags=["notifications"])
NotificationReader = Annotated[Principal, Depends(require_scopes("notifications:read"))]
NotificationWriter = Annotated[Principal, Depends(require_scopes("notifications:write"))]
PAGE_SIZE_DEFAULT = 50
TOO_MANY_SUBSCRIPTIONS = DeclaredProblem(422, "too_many_subscriptions", "Too many subscriptions for this wallet")
# Another customer's wallet is not found, exactly as one that does not exist.
WALLET_NOT_FOUND = DeclaredProblem(404, "unknown_wallet", "Unknown wallet", "wallet ... is not one of yours")


class WebhookRequest(BaseModel):
    wallet_id: uuid.UUID
    url: AnyHttpUrl = Field(description="Receives an HTTP POST per payment event of the wallet")


class EmailRequest(BaseModel):
    wallet_id: uuid.UUID
    address: EmailAddress


class SubscriptionView(BaseModel):
    id: uuid.UUID
    wallet_id: uuid.UUID
    channel: Literal["webhook", "email"]
    target: str
    secret: str | None = Field(None, description="Webhook signing secret; shown only when created")


class AttemptView(BaseModel):
    attempt: int
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime


class NotificationView(BaseModel):
    id: uuid.UUID
    event_type: str
    payment_id: uuid.UUID
    wallet_id: uuid.UUID
    subscription_id: uuid.UUID
    channel: str
    status: str
    attempts: list[AttemptView]
    payload: dict[str, Any]


async def _require_visible(service: NotificationCollaborators, principal: Principal, wallet_id: uuid.UUID) -> None:
    if not principal.may_see(await service.wallet_owners.owner_of(wallet_id)):
        raise WALLET_NOT_FOUND.problem(f"wallet {wallet_id} is not one of yours")


async def _subscribe(
    service: NotificationCollaborators, uow: UnitOfWork, principal: Principal, subscription: Subscription
) -> Subscription:
    await _require_visible(service, principal, subscription.wallet_id)
    settings = service.settings
    async with uow:
        if (
            await repository.count_subscriptions(uow.connection, subscription.wallet_id)
            >= settings.subscriptions_per_wallet_max
        ):
            raise TOO_MANY_SUBSCRIPTIONS.problem(f"a wallet has at most {settings.subscriptions_per_wallet_max}")
        await repository.add_subscription(uow.connection, subscription)
        await uow.commit()
    return subscription


def _view(s: Subscription, *, with_secret: bool) -> SubscriptionView:
    return SubscriptionView(
        id=s.id,
        wallet_id=s.wallet_id,
        channel=s.channel.value,
        target=s.target,
        secret=s.secret if with_secret else None,
    )


@post_creating(
    router,
    "/webhooks",
    SubscriptionView,
    TOO_MANY_SUBSCRIPTIONS,
    WALLET_NOT_FOUND,
    summary="Subscribe a URL to the wallet's payment events (HMAC-signed, Standard Webhooks)",
)
async def subscribe_webhook(
    body: WebhookRequest, service: NotificationDep, uow: UowDep, response: Response, principal: NotificationWriter
) -> SubscriptionView:
    subscription = Subscription(uuid.uuid4(), body.wallet_id, Channel.WEBHOOK, str(body.url), new_webhook_secret())
    await _subscribe(service, uow, principal, subscription)
    response.headers["Location"] = f"/v1/subscriptions/{subscription.id}"
    return _view(subscription, with_secret=True)


@post_creating(router, "/email-subscriptions", SubscriptionView, TOO_MANY_SUBSCRIPTIONS, WALLET_NOT_FOUND)
async def subscribe_email(
    body: EmailRequest, service: NotificationDep, uow: UowDep, principal: NotificationWriter
) -> SubscriptionView:
    subscription = Subscription(uuid.uuid4(), body.wallet_id, Channel.EMAIL, str(body.address))
    return _view(await _subscribe(service, uow, principal, subscription), with_secret=False)


@router.get("/subscriptions", response_model=list[SubscriptionView], responses=problem_responses(WALLET_NOT_FOUND))
async def list_subscriptions(
    wallet_id: uuid.UUID, service: NotificationDep, principal: NotificationReader
) -> list[SubscriptionView]:
    await _require_visible(service, principal, wallet_id)
    async with service.engine.connect() as connection:
        found = await repository.subscriptions_for(connection, [wallet_id])
    return [_view(s, with_secret=False) for s in found]


def _notification_view(n: Notification, attempts: list[Any]) -> NotificationView:
    return NotificationView(
        id=n.id,
        event_type=n.payload["type"],
        payment_id=n.payment_id,
        wallet_id=n.wallet_id,
        subscription_id=n.subscription_id,
        channel=n.channel.value,
        status=n.status.value,
        payload=dict(n.payload),
        attempts=[
            AttemptView(
                attempt=a.attempt,
                succeeded=a.succeeded,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
                at=a.at,
            )
            for a in attempts
        ],
    )


@router.get(
    "/notifications",
    response_model=list[NotificationView],
    summary="A wallet's notifications, newest first",
    responses=problem_responses(WALLET_NOT_FOUND),
)
async def list_notifications(
    service: NotificationDep,
    principal: NotificationReader,
    wallet: Annotated[uuid.UUID, Query(description="Wallet id")],
    limit: Annotated[int, Query(ge=1)] = PAGE_SIZE_DEFAULT,
) -> list[NotificationView]:
    check_page_size(limit, service.settings.page_size_max)
    await _require_visible(service, principal, wallet)
    async with service.engine.connect() as connection:
        found = await repository.list_for_wallet(connection, wallet, limit=limit)
    return [_notification_view(n, attempts) for n, attempts in found]


@router.get("/notifications/{notification_id}", response_model=NotificationView)
async def read_notification(
    notification_id: uuid.UUID, service: NotificationDep, principal: NotificationReader
) -> NotificationView:
    async with service.engine.connect() as connection:
        notification = await repository.get_notification(connection, notification_id)
        if notification is None or not principal.may_see(await service.wallet_owners.owner_of(notification.wallet_id)):
            raise not_found("notification", notification_id)
        attempts = await repository.attempts_of(connection, notification_id)
    return _notification_view(notification, attempts)
