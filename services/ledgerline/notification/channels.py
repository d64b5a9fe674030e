"""Delivery channels: signed webhooks over HTTP and templated email over SMTP.

Webhooks follow the Standard Webhooks scheme: `webhook-id` (the notification id, stable across
retries, so a receiver can drop duplicates), `webhook-timestamp`, and `webhook-signature`, an
HMAC-SHA256 over id, timestamp and body with the subscription's secret.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from standardwebhooks import Webhook

from ledgerline.notification.domain import Notification, Subscription
from ledgerline.notification.settings import NotificationSettings

SECRET_BYTES = 24
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html",)),
)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True, slots=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, settings: NotificationSettings) -> None:
        self._client = client
        self._excerpt_max = settings.response_excerpt_bytes_max

    async def send(self, notification: Notification, subscription: Subscription) -> AttemptResult:
        body = json.dumps(notification.payload, separators=(",", ":"))
        now = datetime.now(UTC)
        message_id = str(notification.id)
        if subscription.secret is None:
            # Every webhook subscription is created with a secret; an unsigned call is never sent.
            raise ValueError(f"webhook subscription {subscription.id} has no signing secret")
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(subscription.secret).sign(message_id, now, body),
            "idempotency-key": message_id,
        }
        started = time.perf_counter()
        try:
            response = await self._client.post(subscription.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return AttemptResult(False, None, f"{type(exc).__name__}: {exc}", _elapsed_ms(started))
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}: {response.text[: self._excerpt_max]}"
        return AttemptResult(ok, response.status_code, error, _elapsed_ms(started))


def render_email(notification: Notification, sender: str, recipient: str) -> EmailMessage:
    payload = notification.payload
    data = payload["data"]
    message = EmailMessage()
    outcome = "completed" if payload["type"] == "payment.completed" else "failed"
    message["Subject"] = f"Ledgerline: {data['payment_type']} of {data['amount']} {data['currency']} {outcome}"
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = f"<{notification.id}@ledgerline>"  # Stable, so mail systems can drop duplicates.
    message.set_content(_TEMPLATES.get_template(f"{payload['type']}.txt.j2").render(data=data))
    return message


class EmailSender:
    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings

    async def send(self, notification: Notification, subscription: Subscription) -> AttemptResult:
        s = self._settings
        message = render_email(notification, s.smtp_from, subscription.target)
        started = time.perf_counter()
        try:
            await aiosmtplib.send(
                message, hostname=s.smtp_host, port=s.smtp_port, start_tls=s.smtp_starttls, timeout=s.smtp_timeout_s
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return AttemptResult(False, None, f"{type(exc).__name__}: {exc}", _elapsed_ms(started))
        return AttemptResult(True, None, None, _elapsed_ms(started))
